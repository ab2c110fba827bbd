package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// rootlessEnv runs hoist as the unprivileged test user, with its own home, XDG directories and
// rootless server (killed at cleanup): testutil.RootlessUser.
type rootlessEnv struct {
	*testutil.RootlessUser
	t   *testing.T
	dir string
}

func newRootlessEnv(t *testing.T) *rootlessEnv {
	t.Helper()
	u := testutil.NewRootlessUser(t)
	return &rootlessEnv{RootlessUser: u, t: t, dir: u.Dir}
}

func (e *rootlessEnv) home() string { return e.Home() }

// run runs hoist as the user; stdin may be empty.
func (e *rootlessEnv) run(stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hoistTimeout)
	defer cancel()
	cmd := e.Command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("hoist %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

func (e *rootlessEnv) ok(args ...string) string {
	e.t.Helper()
	r := e.run("", args...)
	if r.code != 0 {
		e.t.Fatalf("hoist %s (rootless): exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func (e *rootlessEnv) serverPid() int { return e.ServerPid() }

// TestRootless runs the main jobs as an ordinary user: a build that matches the rootful build's
// digest, push and pull through a loopback registry, a container's lifecycle with a published port,
// and the sandbox's guarantees.
func TestRootless(t *testing.T) {
	e := newRootlessEnv(t)
	root, _ := testutil.NewRoot(t)
	bb := filepath.Join(e.dir, "busybox.tar")
	if r := hoist(t, root, "", "save", "-o", bb, "busybox:latest"); r.code != 0 {
		t.Fatalf("save: %s", r.stderr)
	}
	_ = os.Chmod(bb, 0o644)
	e.ok("load", "-i", bb)

	// The same image, rootless and rootful: owners other than root, a whiteout, an opaque
	// directory, a hard link, COPY --chown, USER.
	ctxDir := filepath.Join(e.dir, "ctx")
	testutil.WriteFiles(t, ctxDir, map[string]string{
		"f.txt": "from the context\n",
		"Dockerfile": `FROM busybox
RUN mkdir -p /data/sub && echo a > /data/sub/f && ln /data/sub/f /data/hard && chown -R 1000:1000 /data && \
    echo 'app:x:2000:2000::/home/app:/bin/sh' >> /etc/passwd && echo 'app:x:2000:' >> /etc/group
RUN rm /bin/vi && rm -rf /data/sub && mkdir /data/sub && echo b > /data/sub/g && chown 65534:65534 /data/sub/g
COPY --chown=1234:5678 f.txt /f.txt
USER app
RUN id > /tmp/id.txt
`})
	_ = filepath.Walk(ctxDir, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
	rootless := strings.TrimSpace(e.ok("build", "-q", "--source-date-epoch", "1700000000", "-t", "owners", ctxDir))
	r := hoist(t, root, "", "build", "-q", "--source-date-epoch", "1700000000", "-t", "owners", ctxDir)
	if r.code != 0 {
		t.Fatalf("rootful build: %s", r.stderr)
	}
	if rootful := strings.TrimSpace(r.stdout); rootless != rootful || rootless == "" {
		t.Errorf("rootless build %q, rootful build %q: the same Dockerfile must give the same image", rootless, rootful)
	}
	if got := e.ok("run", "--rm", "owners", "sh", "-c", "cat /tmp/id.txt; stat -c '%u:%g %n' /data/sub/g /f.txt"); got !=
		"uid=2000(app) gid=2000(app) groups=2000(app)\n65534:65534 /data/sub/g\n1234:5678 /f.txt\n" {
		t.Errorf("rootless run sees:\n%s", got)
	}

	// Push and pull through a loopback registry.
	reg := testutil.Registry(t)
	ref := reg + "/rootless/owners:1"
	e.ok("tag", "owners", ref)
	e.ok("push", ref)
	e.ok("rmi", ref)
	e.ok("pull", ref)
	if got := strings.TrimSpace(e.ok("images", "-q", "--no-trunc", ref)); got != rootless {
		t.Errorf("pulled %q, pushed %q", got, rootless)
	}

	// A build pulls its FROM image from the registry on the host's loopback, and ADDs a file
	// served there: hoist's own connections reach the host's loopback (through the port helper),
	// though the build runs in the rootless namespace's network.
	e.ok("rmi", ref)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "served\n") }))
	defer srv.Close()
	fromCtx := filepath.Join(e.dir, "from-loopback")
	testutil.WriteFiles(t, fromCtx, map[string]string{
		"Dockerfile": "FROM " + ref + "\nUSER root\nADD " + srv.URL + "/file.txt /added.txt\nRUN cat /added.txt /f.txt\n"})
	_ = filepath.Walk(fromCtx, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
	if r := e.run("", "build", "-q", "-t", "from-loopback", fromCtx); r.code != 0 {
		t.Errorf("rootless build FROM %s with ADD %s: exit %d\n%s", ref, srv.URL, r.code, r.stderr)
	} else if got := e.ok("run", "--rm", "from-loopback", "cat", "/added.txt"); got != "served\n" {
		t.Errorf("ADD from the host's loopback: %q", got)
	}
	// The containers' loopback stays their own, and so does the rootless namespace's for
	// --network host (docs/rootless.md): neither reaches the host's.
	for _, network := range []string{"bridge", "host"} {
		if r := e.run("", "run", "--rm", "--network", network, "busybox", "wget", "-qO-", srv.URL+"/file.txt"); r.code == 0 {
			t.Errorf("a rootless container (--network %s) reached the host's loopback %s: %q", network, srv.URL, r.stdout)
		}
	}

	// The lifecycle of a container with a published port: it answers at once.
	port := freePorts(t, 1)
	id := strings.TrimSpace(e.ok("run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:80", port), "busybox",
		"httpd", "-f", "-p", "80", "-h", "/etc"))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", port))
	if err != nil {
		t.Fatalf("GET right after run -d -p: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != id[:12] {
		t.Errorf("GET /hostname = %q, want %q", body, id[:12])
	}
	if got := e.ok("exec", "web", "cat", "/proc/1/cmdline"); got != "httpd\x00-f\x00-p\x0080\x00-h\x00/etc\x00" {
		t.Errorf("exec sees PID 1 %q", got)
	}
	if got := e.ok("ps", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(got, "web Up") {
		t.Errorf("ps: %q", got)
	}
	if got := e.ok("top", "web"); !strings.Contains(got, "httpd -f -p 80") {
		t.Errorf("top (no cgroup: the pid namespace's processes): %q", got)
	}
	e.ok("stop", "-t", "1", "web")
	e.ok("logs", "web")
	e.ok("rm", "web")

	// The sandbox holds for a rootless container too: /proc/sys is read-only, seccomp is on, and
	// the container's root is not the host's.
	r = e.run("", "run", "--rm", "busybox", "sh", "-c", "echo '|/tmp/x' > /proc/sys/kernel/core_pattern")
	if r.code == 0 {
		t.Errorf("a rootless container wrote /proc/sys/kernel/core_pattern")
	}
	if got := e.ok("run", "--rm", "busybox", "sh", "-c", "grep ^Seccomp: /proc/self/status; cat /proc/self/uid_map"); !strings.Contains(got, "Seccomp:\t2") ||
		strings.Contains(got, "0          0") {
		t.Errorf("rootless container: %q (want seccomp filtering and a user namespace)", got)
	}
}

// TestRootlessBadEnvironment: what cannot work is one clear error, exit 125, and nothing left.
func TestRootlessBadEnvironment(t *testing.T) {
	e := newRootlessEnv(t)
	e.Path = filepath.Join(e.dir, "empty-bin") // no newuidmap
	if err := os.Mkdir(e.Path, 0o755); err != nil {
		t.Fatal(err)
	}
	r := e.run("", "images")
	if r.code != 125 || !strings.Contains(r.stderr, "newuidmap not found") || !strings.Contains(r.stderr, "uidmap") {
		t.Errorf("without newuidmap: exit %d, stderr %q", r.code, r.stderr)
	}
	if pid := e.serverPid(); pid != 0 {
		t.Errorf("a rootless server (pid %d) is left after a failed start", pid)
	}
	if _, err := os.Stat(filepath.Join(e.home(), "run", "hoist", "rootless.sock")); err == nil {
		t.Errorf("a socket is left after a failed start")
	}
}

// TestRootlessUsernsDisabled: on a host whose user.max_user_namespaces is 0, the first rootless
// command fails with one error naming the sysctl, exit 125, and leaves no server. The host's own
// limit is left alone: hoist runs as the user in a user namespace (ids mapped one to one) whose
// limit the test lowers to 0 — the limits are per user namespace (user_namespaces(7)).
func TestRootlessUsernsDisabled(t *testing.T) {
	e := newRootlessEnv(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) not found: %v", err)
	}
	script := fmt.Sprintf(`echo 0 > /proc/sys/user/max_user_namespaces && exec setpriv --reuid %d --regid %d --clear-groups -- "$@"`, e.UID, e.GID)
	ctx, cancel := context.WithTimeout(context.Background(), hoistTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", append([]string{"-c", script, "sh", e.Exe}, "images")...)
	cmd.Dir = e.Home()
	cmd.Env = e.Env()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:                 syscall.CLONE_NEWUSER,
		UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1 << 20}},
		GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1 << 20}},
		GidMappingsEnableSetgroups: true,
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != 125 || !strings.Contains(errb.String(), "user.max_user_namespaces=0") || strings.Count(errb.String(), "Error:") != 1 {
		t.Errorf("user namespaces disabled: exit %d, stderr %q", code, errb.String())
	}
	if pid := e.serverPid(); pid != 0 {
		t.Errorf("a rootless server (pid %d) is left after a failed start", pid)
	}
}

// TestRootlessSmallRange: a user whose subordinate range cannot hold an image's ids (1000, where
// nobody is 65534) gets one error naming the file and the count, exit 125, and no server.
func TestRootlessSmallRange(t *testing.T) {
	e := newRootlessEnv(t)
	u, err := user.Lookup(prereq.SmallRangeUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	home := filepath.Join(e.dir, "small")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hoistTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.Exe, "images")
	cmd.Dir = home
	cmd.Env = []string{"HOIST_TEST_CLI=1", "HOME=" + home, "PATH=" + e.Path, "LANG=C",
		"XDG_DATA_HOME=" + filepath.Join(home, "data"), "XDG_RUNTIME_DIR=" + filepath.Join(home, "run")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	want := "/etc/subuid: " + prereq.SmallRangeUser + " has 1000 subordinate ids, hoist needs at least 65536"
	if code != 125 || !strings.Contains(errb.String(), want) || strings.Count(errb.String(), "Error:") != 1 {
		t.Errorf("a range of 1000 ids: exit %d, stderr %q, want %q", code, errb.String(), want)
	}
	if _, err := os.Stat(filepath.Join(home, "run", "hoist", "rootless.pid")); err == nil {
		t.Errorf("a rootless server was started for a user whose range is too small")
	}
}
