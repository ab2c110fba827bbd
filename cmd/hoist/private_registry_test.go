package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestPrivateRegistry follows docs/private-registry.md with the CLI. It builds examples/registry from
// the busybox base and the host's docker-registry, runs it detached with -p and a volume, pushes
// busybox, pulls it into a fresh root and runs it. Then the same registry with htpasswd auth (a
// wrong password is refused), with TLS from a CA the test makes (trusted through --cert-dir), stopped
// and started, and replaced by a container with config-secure.yml: the image pushed first is still
// there each time, because the volume holds it.
func TestPrivateRegistry(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Busybox|prereq.Registry)
	root := newRoot(t)
	// The registry's directories on the host, made before the cleanup is registered: cleanups run
	// last-in first-out, so the containers are removed before their volumes' directories are.
	data, auth, certs, certDir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	authfile := filepath.Join(t.TempDir(), "config.json")
	var ids []string // the registry containers, for the leftover check at the end
	t.Cleanup(func() { checkRemoved(t, root, ids) })

	// Build the image: the example's files plus what prepare.sh copies from the host.
	ctxDir := filepath.Join(t.TempDir(), "registry")
	if err := os.CopyFS(ctxDir, os.DirFS("../../examples/registry")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", filepath.Join(ctxDir, "prepare.sh")).CombinedOutput(); err != nil {
		t.Fatalf("prepare.sh: %v\n%s", err, out)
	}
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "registry:local", ctxDir), "build registry:local")

	reg := fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
	runRegistry := func(scheme string, args ...string) {
		t.Helper()
		hoist(t, root, "", "rm", "-f", "registry")
		run := append([]string{"run", "-d", "--name", "registry", "-p", reg + ":5000", "-v", data + ":/var/lib/registry"}, args...)
		ids = append(ids, strings.TrimSpace(mustOK(t, hoist(t, root, "", run...), "run the registry").stdout))
		waitRegistry(t, root, scheme+"://"+reg)
	}
	// pullAndRun pulls ref into an empty root and runs it there.
	pullAndRun := func(ref string, flags ...string) {
		t.Helper()
		fresh := t.TempDir()
		mustOK(t, hoist(t, fresh, "", append(append([]string{"pull"}, flags...), ref)...), "pull "+ref)
		r := mustOK(t, hoist(t, fresh, "", "run", "--rm", "--network", "none", ref, "echo", "pulled"), "run "+ref)
		if r.stdout != "pulled\n" {
			t.Errorf("run %s printed %q", ref, r.stdout)
		}
	}

	// 1. An open registry on loopback (plain HTTP, as docker).
	runRegistry("http", "registry:local")
	image := reg + "/my-busybox"
	mustOK(t, hoist(t, root, "", "tag", "busybox", image), "tag")
	mustOK(t, hoist(t, root, "", "push", image), "push")
	if _, err := os.Stat(filepath.Join(data, "docker/registry/v2/repositories/my-busybox")); err != nil {
		t.Errorf("the push did not land in the volume: %v", err)
	}
	pullAndRun(image)

	// 2. htpasswd auth (the file from Go's bcrypt, as `htpasswd -Bbn alice s3cret` writes it).
	copyFile(t, testutil.Htpasswd(t, "alice", "s3cret"), filepath.Join(auth, "htpasswd"))
	authRun := []string{"-v", auth + ":/auth", "-e", "REGISTRY_AUTH=htpasswd",
		"-e", "REGISTRY_AUTH_HTPASSWD_REALM=Registry Realm", "-e", "REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd"}
	runRegistry("http", append(authRun, "registry:local")...)
	r := hoist(t, t.TempDir(), "", "pull", "--authfile", authfile, image)
	if r.code == 0 || !strings.Contains(r.stderr, "hoist login") {
		t.Errorf("pull before login: exit %d, %q", r.code, r.stderr)
	}
	r = hoist(t, root, "wrong\n", "login", "--authfile", authfile, "-u", "alice", "--password-stdin", reg)
	if r.code == 0 || !strings.Contains(r.stderr, "wrong username or password") {
		t.Errorf("login with a wrong password: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(authfile); err == nil {
		t.Errorf("a refused login wrote the auth file")
	}
	r = mustOK(t, hoist(t, root, "s3cret\n", "login", "--authfile", authfile, "-u", "alice", "--password-stdin", reg), "login")
	if !strings.Contains(r.stdout, "Login Succeeded") {
		t.Errorf("login printed %q", r.stdout)
	}
	mustOK(t, hoist(t, root, "", "push", "--authfile", authfile, "busybox", reg+"/team/busybox:1"), "push after login")
	pullAndRun(image, "--authfile", authfile)

	// 3. TLS with a CA of our own, trusted through --cert-dir (docker's /etc/docker/certs.d layout).
	ca := testutil.NewCA(t)
	copyFile(t, ca.ServerCert, filepath.Join(certs, "registry.crt"))
	copyFile(t, ca.ServerKey, filepath.Join(certs, "registry.key"))
	tlsRun := []string{"-v", certs + ":/certs",
		"-e", "REGISTRY_HTTP_TLS_CERTIFICATE=/certs/registry.crt", "-e", "REGISTRY_HTTP_TLS_KEY=/certs/registry.key"}
	runRegistry("https", append(append(authRun, tlsRun...), "registry:local")...)
	regFlags := []string{"--authfile", authfile, "--cert-dir", certDir}
	r = hoist(t, root, "s3cret\n", append([]string{"login", "-u", "alice", "--password-stdin", reg}, regFlags...)...)
	if r.code == 0 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("login without the CA: exit %d, %q", r.code, r.stderr)
	}
	copyFile(t, ca.CACert, filepath.Join(certDir, reg, "ca.crt"))
	mustOK(t, hoist(t, root, "s3cret\n", append([]string{"login", "-u", "alice", "--password-stdin", reg}, regFlags...)...), "login over TLS")
	pullAndRun(image, regFlags...)

	// 4. Stop and start: the same container, the same data.
	mustOK(t, hoist(t, root, "", "stop", "registry"), "stop")
	if st := hoist(t, root, "", "inspect", "--format", "{{.State.Status}}", "registry").stdout; st != "exited\n" {
		t.Errorf("after stop the registry is %q", st)
	}
	mustOK(t, hoist(t, root, "", "start", "registry"), "start")
	waitRegistry(t, root, "https://"+reg)
	pullAndRun(reg+"/team/busybox:1", regFlags...)

	// 5. A new container on the same volume, configured by config-secure.yml instead of variables.
	runRegistry("https", "-v", auth+":/auth", "-v", certs+":/certs", "registry:local", "/etc/docker/registry/config-secure.yml")
	pullAndRun(image, regFlags...)

	mustOK(t, hoist(t, root, "", "rm", "-f", "registry"), "rm -f registry")
	if ps := hoist(t, root, "", "ps", "-aq").stdout; ps != "" {
		t.Errorf("containers left: %q", ps)
	}
	if vols := volumeNames(t, root); len(vols) != 0 {
		t.Errorf("volumes left: %v (the -v on /var/lib/registry should replace the image's VOLUME)", vols)
	}
}

// checkRemoved force-removes root's containers and reports what the containers ids left behind. Unlike
// containerRoot it looks only at these containers' cgroups and veths, not at the host's, so
// containers of other tests running at the same time do not count.
func checkRemoved(t *testing.T, root string, ids []string) {
	t.Helper()
	if left := strings.Fields(hoist(t, root, "", "ps", "-aq", "--no-trunc").stdout); len(left) > 0 {
		hoist(t, root, "", append([]string{"rm", "-f"}, left...)...)
	}
	var own []string
	for _, cg := range containerCgroups() {
		for _, id := range ids {
			if filepath.Base(cg) == id {
				own = append(own, cg)
			}
		}
	}
	for _, v := range veths() {
		for _, id := range ids {
			if len(id) >= 8 && v == "veth"+id[:8] {
				own = append(own, v)
			}
		}
	}
	if len(own) > 0 {
		t.Errorf("left behind by the removed containers: %v", own)
	}
	if l := countRuntime(t, root, nil); l.containers+l.mounts+l.monitors != 0 {
		t.Errorf("leftovers in the root: %+v", l)
	}
}

// waitRegistry waits until the registry at url (scheme://host:port) answers /v2/ (200, or 401 with
// auth), and shows the container's log when it does not.
func waitRegistry(t *testing.T, root, url string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // readiness only; hoist verifies
	}}
	defer client.CloseIdleConnections()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := client.Get(url + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
	}
	r := hoist(t, root, "", "logs", "registry")
	t.Fatalf("the registry does not answer on %s; its log:\n%s%s", url, r.stdout, r.stderr)
}

// copyFile copies src to dst, making dst's directory.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
