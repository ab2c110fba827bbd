package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hoistbuild/hoist/internal/fsdump"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// outputContext is a build whose final filesystem has what an export can get wrong: a setuid file,
// a file owned by another user, a symlink, a hardlink, a deleted base file, an empty directory.
func outputContext(t *testing.T) string {
	return writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\n" +
			"RUN mkdir -p /data/empty && echo hi > /data/a && chmod 4755 /data/a && ln -s a /data/l && ln /data/a /data/hard && " +
			"echo mine > /data/owned && chown 1000:1000 /data/owned && rm /etc/group\n" +
			"COPY f /f\n",
		"f": "content\n",
	})
}

// imageDump flattens the layers of the stored image ref (read back through `hoist save`, a
// docker-archive) with fsdump, the test oracle independent of hoist's snapshot code.
func imageDump(t *testing.T, root, ref string) string {
	t.Helper()
	arc := filepath.Join(t.TempDir(), "img.tar")
	mustOK(t, hoist(t, root, "", "save", "-o", arc, ref), "save")
	files := tarFiles(t, arc)
	var m []struct{ Layers []string }
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil || len(m) != 1 {
		t.Fatalf("manifest.json: %v", err)
	}
	var layers []io.Reader
	for _, l := range m[0].Layers {
		zr, err := gzip.NewReader(bytes.NewReader(files[l]))
		if err != nil {
			t.Fatalf("layer %s: %v", l, err)
		}
		layers = append(layers, zr)
	}
	tree, err := fsdump.Flatten(layers)
	if err != nil {
		t.Fatal(err)
	}
	return string(tree.Dump())
}

func tarFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[h.Name], _ = io.ReadAll(tr)
	}
}

func tarDump(t *testing.T, r io.Reader) string {
	t.Helper()
	tree, err := fsdump.Flatten([]io.Reader{r})
	if err != nil {
		t.Fatal(err)
	}
	return string(tree.Dump())
}

// TestBuildOutputFilesystem: --output type=tar (to a file and to stdout with -o -) and type=local
// hold exactly the image's final filesystem, file by file (type, mode, owner, size, content digest,
// link target, hardlinks); local files belong to the caller, as BuildKit's client writes them.
func TestBuildOutputFilesystem(t *testing.T) {
	root := newRoot(t)
	ctxDir := outputContext(t)
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "app:1", ctxDir), "build")
	want := imageDump(t, root, "app:1")
	if !strings.Contains(want, "/data/owned f 0644 1000:1000") || strings.Contains(want, "/etc/group ") {
		t.Fatalf("the image is not the one the test means:\n%s", want)
	}
	out := t.TempDir()
	fsTar := filepath.Join(out, "fs.tar")
	r := mustOK(t, hoist(t, root, "", "build", "-q", "-o", "type=tar,dest="+fsTar, ctxDir), "build -o type=tar")
	if !strings.HasPrefix(r.stdout, "sha256:") {
		t.Errorf("build -o type=tar printed %q", r.stdout)
	}
	f, err := os.Open(fsTar)
	if err != nil {
		t.Fatal(err)
	}
	if got := tarDump(t, f); got != want {
		t.Errorf("type=tar differs from the image:\n%s", lineDiffs(got, want))
	}
	f.Close()

	r = mustOK(t, hoist(t, root, "", "build", "-q", "-o", "-", ctxDir), "build -o -")
	if got := tarDump(t, strings.NewReader(r.stdout)); got != want {
		t.Errorf("-o - differs from the image:\n%s", lineDiffs(got, want))
	}

	dest := filepath.Join(out, "local")
	mustOK(t, hoist(t, root, "", "build", "-q", "-o", "type=local,dest="+dest, ctxDir), "build -o type=local")
	tarred, err := exec.Command("tar", "--numeric-owner", "-C", dest, "-cf", "-", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	owners := regexp.MustCompile(`(?m)^(\S+ \S \d{4}) \d+:\d+ `)
	wantLocal := owners.ReplaceAllString(want, "$1 0:0 ")
	if got := tarDump(t, bytes.NewReader(tarred)); got != wantLocal {
		t.Errorf("type=local differs from the image (owners made the caller's):\n%s", lineDiffs(got, wantLocal))
	}
}

// lineDiffs lists the lines only in got (+) or only in want (-).
func lineDiffs(got, want string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var b strings.Builder
	for l := range g {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	for l := range w {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}

// recordingProxy forwards to a registry and records every request ("METHOD path"), optionally
// failing blob uploads.
type recordingProxy struct {
	mu        sync.Mutex
	reqs      []string
	failBlobs bool
	proxy     *httputil.ReverseProxy
}

func newRecordingProxy(t *testing.T, reg string, failBlobs bool) (string, *recordingProxy) {
	u, _ := url.Parse("http://" + reg)
	rp := &recordingProxy{proxy: httputil.NewSingleHostReverseProxy(u), failBlobs: failBlobs}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), rp
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.reqs = append(p.reqs, r.Method+" "+r.URL.Path)
	p.mu.Unlock()
	if p.failBlobs && r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") {
		http.Error(w, `{"errors":[{"code":"DENIED","message":"injected refusal"}]}`, http.StatusForbidden)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// blobPuts counts the finished blob uploads; manifestAfterBlobs reports whether the only manifest PUT
// comes after every blob upload.
func (p *recordingProxy) uploads() (blobPuts, manifestPuts int, manifestLast bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	manifestLast = true
	for _, r := range p.reqs {
		switch {
		case strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/blobs/uploads/"):
			blobPuts++
			if manifestPuts > 0 {
				manifestLast = false
			}
		case strings.HasPrefix(r, "PUT ") && strings.Contains(r, "/manifests/"):
			manifestPuts++
		}
	}
	return
}

// TestBuildPush: --push builds and pushes in one step; every layer and the config are uploaded once,
// the manifest last; --metadata-file holds the digest the registry serves for the tag (and the
// descriptor, config digest and name as buildx writes them); the pushed image runs under docker when
// docker is there. A registry refusing uploads fails the build with no manifest pushed.
func TestBuildPush(t *testing.T) {
	root := newRoot(t)
	reg := testutil.Registry(t)
	addr, rp := newRecordingProxy(t, reg, false)
	ctxDir := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nCOPY big /big\nRUN echo built > /built\n",
		"big":        strings.Repeat("hoist push test\n", 100000),
	})
	md := filepath.Join(t.TempDir(), "metadata.json")
	ref := addr + "/team/app:1"
	r := mustOK(t, hoist(t, root, "", "build", "-q", "-t", ref, "--push", "--metadata-file", md,
		"--annotation", "org.opencontainers.image.title=app", ctxDir), "build --push")
	blobs, manifests, last := rp.uploads()
	// busybox's layer, the COPY and RUN layers, the config: 4 blobs, each once.
	if blobs != 4 || manifests != 1 || !last {
		t.Errorf("push uploaded %d blobs and %d manifests (manifest last: %v), want 4 and 1:\n%s", blobs, manifests, last, strings.Join(rp.reqs, "\n"))
	}
	var meta struct {
		Digest     string `json:"containerimage.digest"`
		Config     string `json:"containerimage.config.digest"`
		Name       string `json:"image.name"`
		Descriptor struct {
			MediaType string
			Digest    string
			Size      int64
		} `json:"containerimage.descriptor"`
	}
	data, err := os.ReadFile(md)
	if err != nil || json.Unmarshal(data, &meta) != nil {
		t.Fatalf("metadata file: %v\n%s", err, data)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+reg+"/v2/team/app/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := resp.Header.Get("Docker-Content-Digest")
	if served == "" || meta.Digest != served || meta.Descriptor.Digest != served || meta.Descriptor.Size != int64(len(body)) ||
		meta.Descriptor.MediaType != resp.Header.Get("Content-Type") || meta.Name != ref || "sha256:"+strings.TrimSpace(r.stdout)[7:] != meta.Config {
		t.Errorf("metadata %+v; registry serves %s (%d bytes, %s); build printed %q", meta, served, len(body), resp.Header.Get("Content-Type"), r.stdout)
	}
	if !strings.Contains(string(body), `"org.opencontainers.image.title":"app"`) {
		t.Errorf("pushed manifest has no --annotation: %s", body)
	}

	// A registry refusing the uploads: the build fails, one clear error, no manifest pushed.
	bad, brp := newRecordingProxy(t, reg, true)
	r = hoist(t, root, "", "build", "-q", "-t", bad+"/team/refused:1", "--push", ctxDir)
	if r.code == 0 || !strings.Contains(r.stderr, "injected refusal") {
		t.Errorf("push to a refusing registry: exit %d, %q", r.code, r.stderr)
	}
	if _, manifests, _ := brp.uploads(); manifests != 0 {
		t.Errorf("a manifest was pushed although its blobs were refused:\n%s", strings.Join(brp.reqs, "\n"))
	}
}

// TestBuildOutputArchives: type=docker and type=oci write tarballs docker and skopeo read; the
// docker archive loads into docker under its name with the same image ID, the OCI layout's index
// names the image.
func TestBuildOutputArchives(t *testing.T) {
	root := newRoot(t)
	ctxDir := outputContext(t)
	out := t.TempDir()
	dockerTar, ociTar := filepath.Join(out, "img.docker.tar"), filepath.Join(out, "img.oci.tar")
	r := mustOK(t, hoist(t, root, "", "build", "-q", "-t", "hoist-test/outputs:1", "-o", "type=docker,dest="+dockerTar,
		"-o", "type=oci,dest="+ociTar, ctxDir), "build -o docker -o oci")
	id := strings.TrimSpace(r.stdout)
	if imgs := mustOK(t, hoist(t, root, "", "images", "-q", "hoist-test/outputs"), "images").stdout; imgs != "" {
		t.Errorf("archive outputs named the image in the store: %q", imgs)
	}
	var idx struct {
		Manifests []struct{ Annotations map[string]string }
	}
	if err := json.Unmarshal(tarFiles(t, ociTar)["index.json"], &idx); err != nil || len(idx.Manifests) != 1 ||
		idx.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/hoist-test/outputs:1" {
		t.Errorf("oci index.json: %v %+v", err, idx)
	}
	if _, err := exec.LookPath("skopeo"); err == nil {
		if o, err := exec.Command("skopeo", "inspect", "--format", "{{.Digest}}", "oci-archive:"+ociTar).CombinedOutput(); err != nil {
			t.Errorf("skopeo inspect oci-archive: %v\n%s", err, o)
		}
	}
	prereq.Require(t, prereq.Docker)
	if o, err := exec.Command("docker", "load", "-i", dockerTar).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, o)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", "-f", "hoist-test/outputs:1").Run() })
	got, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", "hoist-test/outputs:1").Output()
	if err != nil || strings.TrimSpace(string(got)) != id {
		t.Errorf("docker loaded %q (%v), hoist built %s", got, err, id)
	}
}

// TestBuildOutputBadSpecs: each bad output spec is one error naming what is wrong, exit 125, before
// anything is built or pushed.
func TestBuildOutputBadSpecs(t *testing.T) {
	root := newRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo should-not-run\n"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "type=nope"}, `unknown output type "nope"`},
		{[]string{"-o", "type=tar,dest=x,compression=gzip"}, `key "compression" is not supported by type=tar`},
		{[]string{"-o", "type=image,push=maybe"}, `push: invalid boolean "maybe"`},
		{[]string{"-o", "dest=x"}, "type is required for output"},
		{[]string{"-o", "type=local"}, "dest directory is required for local exporter"},
		{[]string{"-o", "type=oci,tar=false,dest=x"}, "tar=false"},
		{[]string{"--push"}, "--push: no name to push to"},
		{[]string{"--annotation", "index:a=b", "-t", "x"}, "index annotations not supported for single platform export"},
		{[]string{"--annotation", "bogus:a=b"}, `unknown annotation type "bogus"`},
		{[]string{"--annotation", "manifest[linux/s390x]:a=b"}, "no platform linux/s390x found in source"},
		{[]string{"--annotation", "novalue"}, "expected key=value"},
	} {
		r := hoist(t, root, "", append(append([]string{"build"}, tc.args...), ctxDir)...)
		if r.code != 125 || !strings.Contains(r.stderr, tc.want) ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || strings.Contains(r.stderr, "should-not-run") {
			t.Errorf("build %v: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// TestBuildSSH: RUN --mount=type=ssh gets a socket (BuildKit's default target, SSH_AUTH_SOCK set, mode
// and owner as asked) forwarding to --ssh's agent, only during the step: neither socket nor its
// directories reach a layer. A missing agent and a required id without --ssh are one clear error each.
func TestBuildSSH(t *testing.T) {
	root := newRoot(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if o, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		prereq.Skip(t, "ssh-keygen: %v %s", err, o)
	}
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n" +
		"RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && stat -c '%n %a %u:%g' \"$SSH_AUTH_SOCK\" > /default\n" +
		"RUN --mount=type=ssh,id=deploy,target=/tmp/agent,mode=0640,uid=1,gid=2,required test -S /tmp/agent && " +
		"stat -c '%n %a %u:%g' /tmp/agent > /custom && echo \"${SSH_AUTH_SOCK}\" >> /custom\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "ssh:1", "--ssh", "default="+key, "--ssh", "deploy="+key, ctxDir), "build --ssh")
	dump := imageDump(t, root, "ssh:1")
	if strings.Contains(dump, "/run/buildkit") || strings.Contains(dump, "/tmp/agent") || strings.Contains(dump, "/run ") {
		t.Errorf("the ssh socket or its mount point reached the image:\n%s", dump)
	}
	out := mustOK(t, hoist(t, root, "", "run", "--rm", "ssh:1", "cat", "/default", "/custom"), "run").stdout
	if out != "/run/buildkit/ssh_agent.0 600 0:0\n/tmp/agent 640 1:2\n/tmp/agent\n" {
		t.Errorf("sockets seen by RUN: %q", out)
	}

	required := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=ssh,id=deploy,required=true true\n"})
	r := hoist(t, root, "", "build", "-q", required)
	if r.code == 0 || !strings.Contains(r.stderr, `no SSH key "deploy" forwarded from the client`) {
		t.Errorf("required ssh id without --ssh: exit %d, %q", r.code, r.stderr)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	r = hoist(t, root, "", "build", "-q", "--ssh", "default", ctxDir)
	if r.code != 125 || !strings.Contains(r.stderr, "SSH_AUTH_SOCK is not set") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("--ssh default without an agent: exit %d, %q", r.code, r.stderr)
	}
}

// TestBuildNamedContexts follows BuildKit's named contexts: a stage whose name has a context is
// replaced (its steps never run, its own base is never resolved); FROM, COPY --from and RUN --mount
// from= of an image name take the context of that name (alpine = alpine:latest =
// docker.io/library/alpine); a directory context is its files less its .dockerignore; an OCI layout
// is read by tag or digest. Bad values are one error each, exit 125.
func TestBuildNamedContexts(t *testing.T) {
	root := newRoot(t)
	extra := writeContext(t, map[string]string{"e.txt": "extra\n", "secret.txt": "no\n", ".dockerignore": "secret.txt\n", "sub/s": "s\n"})
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM no-such-registry.invalid/base AS base\nRUN exit 1\n" +
		"FROM base\nCOPY --from=extra / /extra/\nCOPY --from=docker.io/library/alpine /bin/busybox /bb\n" +
		"RUN --mount=from=extra,target=/x ls -A /x > /xlist\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "named:1", "--build-context", "base=docker-image://busybox",
		"--build-context", "extra="+extra, "--build-context", "alpine=docker-image://busybox", ctxDir), "build --build-context")
	out := mustOK(t, hoist(t, root, "", "run", "--rm", "named:1", "sh", "-c", "ls -A /extra; cat /xlist; cmp /bb /bin/busybox && echo same"), "run").stdout
	if out != ".dockerignore\ne.txt\nsub\n.dockerignore\ne.txt\nsub\nsame\n" {
		t.Errorf("named contexts gave %q", out)
	}

	layoutDir := filepath.Join(t.TempDir(), "layout")
	arc := filepath.Join(t.TempDir(), "img.tar")
	mustOK(t, hoist(t, root, "", "save", "--format", "oci-archive", "-o", arc, "named:1"), "save")
	os.MkdirAll(layoutDir, 0o755)
	if o, err := exec.Command("tar", "-xf", arc, "-C", layoutDir).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, o)
	}
	var idx struct{ Manifests []struct{ Digest string } }
	raw, _ := os.ReadFile(filepath.Join(layoutDir, "index.json"))
	json.Unmarshal(raw, &idx)
	fromLayout := writeContext(t, map[string]string{"Dockerfile": "FROM img\nRUN cat /extra/e.txt > /seen\n"})
	for _, v := range []string{"oci-layout://" + layoutDir + ":1", "oci-layout://" + layoutDir + "@" + idx.Manifests[0].Digest} {
		mustOK(t, hoist(t, root, "", "build", "-q", "-t", "fromlayout:1", "--build-context", "img="+v, fromLayout), "build from "+v)
		if got := mustOK(t, hoist(t, root, "", "run", "--rm", "fromlayout:1", "cat", "/seen"), "run").stdout; got != "extra\n" {
			t.Errorf("from %s: %q", v, got)
		}
	}
	for _, tc := range []struct{ arg, want string }{
		{"img=oci-layout://" + layoutDir + ":nope", `could not find tag "nope"`},
		{"img=" + filepath.Join(extra, "e.txt"), "not a directory"},
		{"img=/no/such/dir", "invalid context path"},
		{"img=https://example.invalid/repo.git", "https contexts are not supported"},
		{"Bad Name=" + extra, "invalid context name"},
		{"novalue", "expected key=value"},
	} {
		r := hoist(t, root, "", "build", "-q", "--build-context", tc.arg, fromLayout)
		if r.code != 125 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("--build-context %s: exit %d, %q, want %q", tc.arg, r.code, r.stderr, tc.want)
		}
	}
}
