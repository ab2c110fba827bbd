package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/hoistbuild/hoist/run/container"
)

// runtimeLeftovers counts what containers must never leave behind once removed: container dirs,
// mounts under the root, cgroups, veths, monitors and address leases of this root's containers.
type runtimeLeftovers struct {
	containers, mounts, cgroups, veths, monitors, inits int
}

// containerCgroups lists the cgroup directories of containers (named by a 64-hex container ID; build
// steps' cgroups have other names) in every hierarchy.
func containerCgroups() []string {
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/hoist/*")
	more, _ := filepath.Glob("/sys/fs/cgroup/*/*/*/hoist/*")
	var out []string
	for _, cg := range append(cgs, more...) {
		if fi, err := os.Stat(cg); err == nil && fi.IsDir() && len(filepath.Base(cg)) == 64 {
			out = append(out, cg)
		}
	}
	return out
}

// veths lists the host ends of containers' veth pairs: "veth" and 8 hex digits of the container ID
// (a build's RUN steps use "vethrn...", and builds of other tests may run at the same time).
func veths() []string {
	var out []string
	links, _ := os.ReadDir("/sys/class/net")
	for _, e := range links {
		if hex := strings.TrimPrefix(e.Name(), "veth"); len(hex) == 8 && hex != e.Name() &&
			strings.Trim(hex, "0123456789abcdef") == "" {
			out = append(out, e.Name())
		}
	}
	return out
}

// countRuntime counts what root's containers left behind. Cgroups and veths are host-wide, and
// other hoist roots (other test binaries, other people's test runs on the same host) make them
// too: those in preexisting (present before the test started) are not counted, nor those of a
// container whose monitor serves another root, and a new one counts only if it is still there
// after a grace period (another root's foreground container ends and is cleaned up meanwhile).
func countRuntime(t *testing.T, root string, preexisting map[string]bool) runtimeLeftovers {
	t.Helper()
	var l runtimeLeftovers
	entries, _ := os.ReadDir(filepath.Join(root, "containers"))
	var ids []string
	for _, e := range entries {
		if e.IsDir() {
			l.containers++
			ids = append(ids, e.Name())
		}
	}
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		l.mounts = strings.Count(string(data), root)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		others := otherRootsContainers(root)
		l.cgroups, l.veths = 0, 0
		for _, cg := range containerCgroups() {
			if !preexisting[cg] && !others[filepath.Base(cg)[:8]] {
				l.cgroups++
			}
		}
		for _, v := range veths() {
			if !preexisting[v] && !others[strings.TrimPrefix(v, "veth")] {
				l.veths++
			}
		}
		if l.cgroups+l.veths == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if bytes.Contains(data, []byte(container.MonitorArg)) && bytes.Contains(data, []byte(root)) {
			l.monitors++
		}
	}
	return l
}

// otherRootsContainers is the set of 8-digit ID prefixes of the containers whose monitor process
// (exe MonitorArg ROOT ID) serves a root other than root.
func otherRootsContainers(root string) map[string]bool {
	out := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		if a := strings.Split(string(data), "\x00"); len(a) >= 4 && a[1] == container.MonitorArg && a[2] != root && len(a[3]) >= 8 {
			out[a[3][:8]] = true
		}
	}
	return out
}

// containerRoot is a root with busybox whose containers are all force-removed and counted at the end.
func containerRoot(t *testing.T) string {
	t.Helper()
	root := newRoot(t)
	before := map[string]bool{}
	for _, n := range append(containerCgroups(), veths()...) {
		before[n] = true
	}
	t.Cleanup(func() {
		ids := strings.Fields(hoist(t, root, "", "ps", "-aq", "--no-trunc").stdout)
		if len(ids) > 0 {
			hoist(t, root, "", append([]string{"rm", "-f"}, ids...)...)
		}
		after := countRuntime(t, root, before)
		if want := (runtimeLeftovers{}); after != want {
			t.Errorf("leftovers after removing every container: %+v, want %+v", after, want)
		}
	})
	return root
}

// waitFor polls cond every 20 ms for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunForeground(t *testing.T) {
	root := containerRoot(t)
	envFile := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(envFile, []byte("# comment\nFROMFILE=yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	if err := os.WriteFile(filepath.Join(vol, "f"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantOut  string
		wantCode int
		wantErr  string
	}{
		{"exit code", []string{"busybox", "sh", "-c", "exit 3"}, "", "", 3, ""},
		{"env and env-file", []string{"-e", "A=1", "--env-file", envFile, "busybox", "sh", "-c", "echo $A $FROMFILE"}, "", "1 yes\n", 0, ""},
		{"workdir created", []string{"-w", "/new/dir", "busybox", "pwd"}, "", "/new/dir\n", 0, ""},
		{"user", []string{"-u", "nobody", "busybox", "id"}, "", "uid=65534(nobody) gid=65534(nobody) groups=65534(nobody)\n", 0, ""},
		{"hostname", []string{"--hostname", "box", "busybox", "hostname"}, "", "box\n", 0, ""},
		{"entrypoint", []string{"--entrypoint", "echo", "busybox", "a", "b"}, "", "a b\n", 0, ""},
		{"stdin with -i", []string{"-i", "busybox", "cat"}, "piped\n", "piped\n", 0, ""},
		{"no stdin without -i", []string{"busybox", "cat"}, "piped\n", "", 0, ""},
		{"bind mount ro", []string{"-v", vol + ":/data:ro", "busybox", "sh", "-c", "cat /data/f; touch /data/x 2>/dev/null || echo ro"}, "", "from hostro\n", 0, ""},
		{"named volume", []string{"-v", "vol1:/v", "busybox", "sh", "-c", "echo kept > /v/f"}, "", "", 0, ""},
		{"named volume persists", []string{"-v", "vol1:/v", "busybox", "cat", "/v/f"}, "", "kept\n", 0, ""},
		{"read-only rootfs", []string{"--read-only", "busybox", "sh", "-c", "touch /x || exit 9"}, "", "", 9, ""},
		{"command not found", []string{"busybox", "nonexistent"}, "", "", 127, "executable file not found"},
		{"not executable", []string{"busybox", "/etc/passwd"}, "", "", 126, "permission denied"},
		{"unknown user", []string{"-u", "bob", "busybox", "true"}, "", "", 125, "unable to find user bob"},
		{"unknown image", []string{"nosuchimage"}, "", "", 125, "Unable to find image 'nosuchimage:latest' locally"},
		{"unknown image, --pull never", []string{"--pull", "never", "nosuchimage"}, "", "", 125, "No such image: nosuchimage:latest"},
		{"bad port spec", []string{"-p", "80:80:80:80", "busybox", "true"}, "", "", 125, "invalid port spec"},
		{"bad flag", []string{"--nope", "busybox"}, "", "", 125, "unknown flag"},
		{"bad restart", []string{"--restart", "sometimes", "busybox", "true"}, "", "", 125, "invalid restart policy"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := hoist(t, root, tc.stdin, append([]string{"run", "--rm", "--network", "none"}, tc.args...)...)
			if res.code != tc.wantCode || res.stdout != tc.wantOut || !strings.Contains(res.stderr, tc.wantErr) {
				t.Errorf("got code %d stdout %q stderr %q; want code %d stdout %q stderr containing %q",
					res.code, res.stdout, res.stderr, tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
	if ps := hoist(t, root, "", "ps", "-aq"); ps.stdout != "" {
		t.Errorf("--rm left containers: %q", ps.stdout)
	}
}

func TestRunNameInUseAndMissingCommand(t *testing.T) {
	root := containerRoot(t)
	if res := hoist(t, root, "", "create", "--name", "one", "busybox"); res.code != 0 {
		t.Fatalf("create: %+v", res)
	}
	res := hoist(t, root, "", "run", "--name", "one", "busybox", "true")
	if res.code != 125 || !strings.Contains(res.stderr, "already in use") {
		t.Errorf("name in use: %+v", res)
	}
	res = hoist(t, root, "", "run", "--rm", "--entrypoint", "", "busybox")
	if res.code != 125 || !strings.Contains(res.stderr, "no command specified") {
		t.Errorf("missing command: %+v", res)
	}
	if ps := strings.Fields(hoist(t, root, "", "ps", "-aq").stdout); len(ps) != 1 {
		t.Errorf("want only the first container, got %v", ps)
	}
}

func TestLifecycle(t *testing.T) {
	root := containerRoot(t)
	id := strings.TrimSpace(hoist(t, root, "", "create", "--network", "none", "--name", "life", "busybox", "sh", "-c", "echo started; sleep 30").stdout)
	if len(id) != 64 {
		t.Fatalf("create printed %q, want a 64-digit ID", id)
	}
	name := "life"
	check := func(format, want string) {
		t.Helper()
		got := strings.TrimSpace(hoist(t, root, "", "inspect", "--format", format, name).stdout)
		if got != want {
			t.Errorf("inspect %s = %q, want %q", format, got, want)
		}
	}
	check("{{.State.Status}} {{.State.Running}} {{.Name}}", "created false /life")
	if res := hoist(t, root, "", "start", "life"); res.code != 0 {
		t.Fatalf("start: %+v", res)
	}
	check("{{.State.Status}} {{.State.Running}}", "running true")
	ps := hoist(t, root, "", "ps", "--format", "{{.ID}} {{.Names}} {{.State}}")
	if ps.stdout != id[:12]+" life running\n" {
		t.Errorf("ps --format: %q", ps.stdout)
	}
	if res := hoist(t, root, "", "rename", "life", "life2"); res.code != 0 {
		t.Fatalf("rename: %+v", res)
	}
	name = "life2"
	if res := hoist(t, root, "", "ps", "-q", "-f", "name=life2"); res.stdout != id[:12]+"\n" {
		t.Errorf("ps -f name=life2: %q", res.stdout)
	}
	waitFor(t, 5*time.Second, "log line", func() bool { return hoist(t, root, "", "logs", "life2").stdout == "started\n" })
	top := hoist(t, root, "", "top", "life2")
	if top.code != 0 || !strings.Contains(top.stdout, "sleep 30") {
		t.Errorf("top: %+v", top)
	}
	if res := hoist(t, root, "", "rm", "life2"); res.code == 0 {
		t.Errorf("rm of a running container succeeded")
	}
	start := time.Now()
	if res := hoist(t, root, "", "stop", "--timeout", "1", "life2"); res.code != 0 {
		t.Fatalf("stop: %+v", res)
	}
	// sh as PID 1 has no SIGTERM handler: the kernel drops SIGTERM, SIGKILL follows after 1 s.
	if d := time.Since(start); d < time.Second {
		t.Errorf("stop returned after %v, before the 1 s timeout", d)
	}
	check("{{.State.Status}} {{.State.ExitCode}}", "exited 137")
	if res := hoist(t, root, "", "wait", "life2"); res.stdout != "137\n" {
		t.Errorf("wait: %+v", res)
	}
	ps = hoist(t, root, "", "ps", "-a", "-f", "status=exited", "--format", "{{.Status}}")
	if !strings.HasPrefix(ps.stdout, "Exited (137) ") {
		t.Errorf("ps status: %q", ps.stdout)
	}
	if res := hoist(t, root, "", "rm", "life2"); res.code != 0 {
		t.Errorf("rm: %+v", res)
	}
}

func TestDetachedHTTPD(t *testing.T) {
	root := containerRoot(t)
	res := hoist(t, root, "", "run", "-d", "--name", "web", "-p", "127.0.0.1::80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
	if res.code != 0 {
		t.Fatalf("run -d: %+v", res)
	}
	port := strings.TrimSpace(hoist(t, root, "", "port", "web", "80").stdout)
	if !strings.HasPrefix(port, "127.0.0.1:") {
		t.Fatalf("port: %q", port)
	}
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + port + "/hostname")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != res.stdout[:12]+"\n" {
		t.Errorf("GET /hostname = %q, want the short ID", body)
	}
	ip := strings.TrimSpace(hoist(t, root, "", "inspect", "--format", "{{ .State.Running }} {{ .NetworkSettings.IPAddress }}", "web").stdout)
	if !strings.HasPrefix(ip, "true 10.89.") {
		t.Errorf("inspect: %q", ip)
	}
	// Containers reach each other by address; the name is in the container's own /etc/hosts.
	addr := strings.Fields(ip)[1]
	out := hoist(t, root, "", "run", "--rm", "--name", "client", "busybox", "sh", "-c",
		"wget -qO- http://"+addr+"/hostname && grep -c client /etc/hosts")
	if out.code != 0 || out.stdout != res.stdout[:12]+"\n1\n" {
		t.Errorf("container to container: %+v", out)
	}
	// The port is taken now: a second container cannot publish it.
	hostPort := port[strings.LastIndex(port, ":")+1:]
	busy := hoist(t, root, "", "run", "--rm", "-p", "127.0.0.1:"+hostPort+":80", "busybox", "true")
	if busy.code != 125 || !strings.Contains(busy.stderr, "already allocated") {
		t.Errorf("port in use: %+v", busy)
	}
	// wget in the image, through the published port, from a host-network container.
	hostNet := hoist(t, root, "", "run", "--rm", "--network", "host", "busybox", "wget", "-qO-", "http://"+port+"/hostname")
	if hostNet.stdout != res.stdout[:12]+"\n" {
		t.Errorf("wget from --network host: %+v", hostNet)
	}
}

func TestLogsFollowAndExec(t *testing.T) {
	root := containerRoot(t)
	hoist(t, root, "", "run", "-d", "--network", "none", "--name", "ticker", "busybox", "sh", "-c",
		"for i in 1 2 3; do echo tick $i; sleep 0.3; done; echo err >&2")
	cmd := hoistCmd(root, "logs", "-f", "ticker")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var lines []string
	var firstAt time.Time
	for sc.Scan() {
		if firstAt.IsZero() {
			firstAt = time.Now()
		}
		lines = append(lines, sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("logs -f: %v", err)
	}
	if strings.Join(lines, ",") != "tick 1,tick 2,tick 3" {
		t.Errorf("logs -f stdout: %q", lines)
	}
	// -f streamed: the first line came while the container still had 0.6 s to run.
	if time.Since(firstAt) < 300*time.Millisecond {
		t.Errorf("logs -f printed everything at the end")
	}
	tail := hoist(t, root, "", "logs", "--tail", "1", "-t", "ticker")
	if !strings.HasSuffix(tail.stderr, " err\n") || tail.stdout != "" {
		t.Errorf("logs --tail 1 -t: %+v", tail)
	}

	hoist(t, root, "", "run", "-d", "--network", "none", "--name", "box", "-w", "/srv", "-u", "nobody", "busybox", "sleep", "30")
	ex := hoist(t, root, "", "exec", "-e", "X=1", "box", "sh", "-c", "echo $X; id -u; pwd; cat /proc/1/cmdline | tr '\\0' ' '")
	if ex.stdout != "1\n65534\n/srv\nsleep 30 " {
		t.Errorf("exec: %+v", ex)
	}
	if ex := hoist(t, root, "", "exec", "-u", "root", "-w", "/", "box", "sh", "-c", "exit 4"); ex.code != 4 {
		t.Errorf("exec exit code: %+v", ex)
	}
	if ex := hoist(t, root, "", "exec", "box", "nonexistent"); ex.code != 127 {
		t.Errorf("exec of a missing command: %+v", ex)
	}
	// exec -it gets a terminal.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	c := hoistCmd(root, "exec", "-it", "box", "sh", "-c", "tty; stty size")
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 33, Cols: 77}); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	got, _ := io.ReadAll(ptmx) // EIO once the exec and hoist are gone
	if err := c.Wait(); err != nil {
		t.Fatalf("exec -it: %v (%q)", err, got)
	}
	if !strings.Contains(string(got), "/dev/pts/") || !strings.Contains(string(got), "33 77") {
		t.Errorf("exec -it output %q: want a /dev/pts tty of 33x77", got)
	}
	if ex := hoist(t, root, "", "exec", "ticker", "true"); ex.code == 0 {
		t.Errorf("exec in a stopped container succeeded")
	}
}

func TestRestartOnFailure(t *testing.T) {
	root := containerRoot(t)
	hoist(t, root, "", "run", "-d", "--network", "none", "--name", "flaky", "--restart", "on-failure:3", "busybox", "sh", "-c", "echo run; exit 2")
	waitFor(t, 20*time.Second, "three restarts", func() bool {
		out := hoist(t, root, "", "inspect", "--format", "{{.RestartCount}} {{.State.Status}}", "flaky").stdout
		return out == "3 exited\n"
	})
	if logs := hoist(t, root, "", "logs", "flaky").stdout; logs != strings.Repeat("run\n", 4) {
		t.Errorf("logs after restarts: %q", logs)
	}
	if code := hoist(t, root, "", "inspect", "--format", "{{.State.ExitCode}}", "flaky").stdout; code != "2\n" {
		t.Errorf("exit code %q", code)
	}
}

func TestMonitorKilled(t *testing.T) {
	root := containerRoot(t)
	hoist(t, root, "", "run", "-d", "--network", "none", "--name", "orphan", "busybox", "sleep", "30")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	killed := 0
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err == nil && bytes.Contains(data, []byte(container.MonitorArg)) && bytes.Contains(data, []byte(root)) {
			var pid int
			fmt.Sscanf(p, "/proc/%d/cmdline", &pid)
			if err := exec.Command("kill", "-9", fmt.Sprint(pid)).Run(); err == nil {
				killed++
			}
		}
	}
	if killed != 1 {
		t.Fatalf("killed %d monitors, want 1", killed)
	}
	waitFor(t, 5*time.Second, "ps -a to show the container exited", func() bool {
		return strings.HasPrefix(hoist(t, root, "", "ps", "-a", "--format", "{{.Status}}").stdout, "Exited (137)")
	})
}

func TestResourceLimits(t *testing.T) {
	root := containerRoot(t)
	// A 64 MiB limit and a process that wants 200 MiB: the kernel's OOM killer ends it.
	res := hoist(t, root, "", "run", "--name", "oom", "--network", "none", "--memory", "64m", "busybox", "sh", "-c",
		`x=$(head -c 200000000 /dev/zero | tr "\0" a); echo ${#x}`)
	if res.code != 137 {
		t.Errorf("oom run exit %d (stderr %q), want 137", res.code, res.stderr)
	}
	if got := hoist(t, root, "", "inspect", "--format", "{{.State.OOMKilled}}", "oom").stdout; got != "true\n" {
		t.Errorf("OOMKilled = %q", got)
	}
	// A fork loop stops at the pids limit: the shell's fork fails and it gives up.
	start := time.Now()
	res = hoist(t, root, "", "run", "--rm", "--network", "none", "--pids-limit", "10", "busybox", "sh", "-c",
		"while :; do sleep 30 & done")
	if res.code == 0 || !strings.Contains(res.stderr, "can't fork") || time.Since(start) > 20*time.Second {
		t.Errorf("fork loop under --pids-limit 10: %+v", res)
	}
	res = hoist(t, root, "", "run", "--rm", "--network", "none", "--cpus", "0.5", "busybox", "true")
	if res.code != 0 {
		t.Errorf("--cpus: %+v", res)
	}
}

func TestCpAndCommit(t *testing.T) {
	root := containerRoot(t)
	src := t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "tree", "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "tree", "sub", "f"), []byte("data"), 0o4755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "tree", "sub", "f"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f", filepath.Join(src, "tree", "link")); err != nil {
		t.Fatal(err)
	}
	hoist(t, root, "", "run", "-d", "--network", "none", "--name", "box", "busybox", "sleep", "30")
	if res := hoist(t, root, "", "cp", filepath.Join(src, "tree"), "box:/tmp/"); res.code != 0 {
		t.Fatalf("cp in: %+v", res)
	}
	ls := hoist(t, root, "", "exec", "box", "sh", "-c", "stat -c '%A %N' /tmp/tree/sub /tmp/tree/sub/f /tmp/tree/link; cat /tmp/tree/link")
	want := "drwxr-x--- /tmp/tree/sub\n-rwsr-xr-x /tmp/tree/sub/f\nlrwxrwxrwx '/tmp/tree/link' -> 'sub/f'\ndata"
	if ls.stdout != want {
		t.Errorf("in the container:\n%s\nwant\n%s", ls.stdout, want)
	}
	// A symlink to / in the container cannot take a copy out of its root.
	hoist(t, root, "", "exec", "box", "ln", "-s", "/", "/evil")
	escape := filepath.Join(t.TempDir(), "escaped")
	hoist(t, root, "", "cp", filepath.Join(src, "tree", "sub", "f"), "box:/evil"+escape)
	if _, err := os.Lstat(escape); err == nil {
		t.Errorf("cp wrote through the container's symlink to the host: %s", escape)
	}
	back := filepath.Join(t.TempDir(), "back")
	if res := hoist(t, root, "", "cp", "box:/tmp/tree", back); res.code != 0 {
		t.Fatalf("cp out: %+v", res)
	}
	for p, mode := range map[string]os.FileMode{"sub": os.ModeDir | 0o750, "sub/f": os.ModeSetuid | 0o755, "link": os.ModeSymlink | 0o777} {
		fi, err := os.Lstat(filepath.Join(back, p))
		if err != nil || fi.Mode() != mode {
			t.Errorf("round trip %s: %v %v, want %v", p, fi.Mode(), err, mode)
		}
	}
	hoist(t, root, "", "exec", "box", "sh", "-c", "echo changed > /etc/motd")
	if res := hoist(t, root, "", "commit", "-c", `CMD ["cat","/etc/motd"]`, "-m", "msg", "box", "committed:1"); res.code != 0 {
		t.Fatalf("commit: %+v", res)
	}
	if res := hoist(t, root, "", "run", "--rm", "--network", "none", "committed:1"); res.stdout != "changed\n" {
		t.Errorf("run of the committed image: %+v", res)
	}
	// cp from a stopped container, as a tar stream.
	hoist(t, root, "", "stop", "-t", "0", "box")
	out := hoist(t, root, "", "cp", "box:/etc/motd", "-")
	if !strings.Contains(out.stdout, "changed\n") || out.code != 0 {
		t.Errorf("cp out of a stopped container: %+v", out)
	}
	if res := hoist(t, root, "", "rmi", "committed:1"); res.code != 0 {
		t.Errorf("rmi: %+v", res)
	}
}

// TestRestartAndLogsSince: restart stops the container (signal, then SIGKILL after -t) and starts it
// again with the same ID; logs keep both runs' output and --since selects by time.
func TestRestartAndLogsSince(t *testing.T) {
	root := containerRoot(t)
	res := hoist(t, root, "", "run", "-d", "--network", "none", "--name", "again", "busybox", "sh", "-c", "echo run-$(cat /proc/uptime | cut -d' ' -f1); sleep 30")
	if res.code != 0 {
		t.Fatalf("run -d: %+v", res)
	}
	id := strings.TrimSpace(res.stdout)
	lines := func(args ...string) []string {
		return strings.Fields(hoist(t, root, "", append([]string{"logs"}, append(args, "again")...)...).stdout)
	}
	waitFor(t, 10*time.Second, "the first run's line", func() bool { return len(lines()) == 1 })
	between := time.Now().UTC()
	time.Sleep(50 * time.Millisecond)
	if r := hoist(t, root, "", "restart", "-t", "1", "again"); r.code != 0 {
		t.Fatalf("restart: %+v", r)
	}
	waitFor(t, 10*time.Second, "the second run's line", func() bool { return len(lines()) == 2 })
	all := lines()
	if all[0] == all[1] {
		t.Errorf("both runs printed %q: not restarted", all[0])
	}
	since := lines("--since", between.Format(time.RFC3339Nano))
	if len(since) != 1 || since[0] != all[1] {
		t.Errorf("logs --since %s = %q, want only %q", between.Format(time.RFC3339Nano), since, all[1])
	}
	got := strings.TrimSpace(hoist(t, root, "", "inspect", "--format", "{{.Id}} {{.State.Running}}", "again").stdout)
	if got != id+" true" {
		t.Errorf("after restart: %q, want %q", got, id+" true")
	}
}

// TestStopSignalTimeoutPublishAllExecDetach: --stop-signal reaches the command, --stop-timeout bounds
// the wait before SIGKILL, -P publishes every EXPOSEd port, exec -d returns at once and its command
// runs in the container.
func TestStopSignalTimeoutPublishAllExecDetach(t *testing.T) {
	root := containerRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nEXPOSE 80 8081/udp\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "exposed:1", ctxDir), "build")

	// The trap makes USR1 end the command with 42; without --stop-signal, stop would send TERM.
	mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "--name", "sig", "--stop-signal", "USR1",
		"busybox", "sh", "-c", "trap 'exit 42' USR1; echo ready; while :; do sleep 0.1; done"), "run sig")
	waitFor(t, 10*time.Second, "the trap", func() bool { return hoist(t, root, "", "logs", "sig").stdout == "ready\n" })
	mustOK(t, hoist(t, root, "", "stop", "sig"), "stop sig")
	if got := strings.TrimSpace(hoist(t, root, "", "inspect", "--format", "{{.State.ExitCode}} {{.Config.StopSignal}}", "sig").stdout); got != "42 USR1" {
		t.Errorf("--stop-signal: %q, want \"42 USR1\"", got)
	}

	// A command that ignores the stop signal is killed after --stop-timeout (1 s, not the default 10).
	mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "--name", "stubborn", "--stop-timeout", "1",
		"busybox", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"), "run stubborn")
	waitFor(t, 10*time.Second, "the trap", func() bool { return hoist(t, root, "", "logs", "stubborn").stdout == "ready\n" })
	start := time.Now()
	mustOK(t, hoist(t, root, "", "stop", "stubborn"), "stop stubborn")
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("stop took %v with --stop-timeout 1", d)
	}
	if got := strings.TrimSpace(hoist(t, root, "", "inspect", "--format", "{{.State.ExitCode}}", "stubborn").stdout); got != "137" {
		t.Errorf("exit after --stop-timeout: %q, want 137", got)
	}

	// -P: every exposed port gets a host port.
	mustOK(t, hoist(t, root, "", "run", "-d", "-P", "--name", "pall", "exposed:1", "sleep", "30"), "run -P")
	ports := hoist(t, root, "", "port", "pall").stdout
	if !strings.Contains(ports, "80/tcp -> ") || !strings.Contains(ports, "8081/udp -> ") {
		t.Errorf("port after -P:\n%s", ports)
	}

	// exec -d: returns at once; the command runs in the container.
	mustOK(t, hoist(t, root, "", "exec", "-d", "pall", "sh", "-c", "sleep 0.2; echo done > /tmp/exec-d"), "exec -d")
	waitFor(t, 10*time.Second, "the detached exec's file", func() bool {
		return hoist(t, root, "", "exec", "pall", "cat", "/tmp/exec-d").stdout == "done\n"
	})
}
