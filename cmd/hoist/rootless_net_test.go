package main

import (
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// TestRootlessNetwork: the rootless namespace's link to the outside, once through each uplink hoist
// can use (slirp4netns, and pasta where slirp4netns is not on the PATH, as on a host without
// Debian's slirp4netns) and once with neither. Through an uplink a container and a build's RUN step reach a
// service outside the namespace (on an address of the host's that no uplink copies into it), the
// host's loopback stays out of reach through the gateway address, and `hoist info` names the
// uplink. Without one, the first command warns naming both packages, info says none, nothing
// outside is reached, and --network none and published ports (the port helper's, not the
// uplink's) still work.
func TestRootlessNetwork(t *testing.T) {
	svc := outsideService(t)
	loop := hostListener(t)
	_, loopPort, _ := net.SplitHostPort(loop.addr)
	root, _ := testutil.NewRoot(t)
	bb := filepath.Join(t.TempDir(), "busybox.tar")
	if r := hoist(t, root, "", "save", "-o", bb, "busybox:latest"); r.code != 0 {
		t.Fatalf("save: %s", r.stderr)
	}
	// Debian bookworm's pasta (passt 2023-03-09) delivers the data of a connection the far end
	// closes but not its FIN: nc would wait for ever (docs/rootless.md), so it gets 5 s, and
	// "ended" says whether it ended by itself.
	reach := fmt.Sprintf(`printf 'GET /marker HTTP/1.0\r\n\r\n' | timeout 5 nc %s && echo ended`, strings.Replace(svc.addr, ":", " ", 1))
	for _, uplink := range []string{"pasta", "slirp4netns", "none"} {
		t.Run(uplink, func(t *testing.T) {
			e := newRootlessEnv(t)
			switch uplink {
			case "pasta":
				e.Path = pathWithout(t, e.dir, "slirp4netns")
			case "none":
				e.Path = pathWithout(t, e.dir, "pasta", "passt", "slirp4netns")
			}
			load := filepath.Join(e.dir, "busybox.tar")
			copyFile(t, bb, load)
			if err := os.Chmod(load, 0o644); err != nil {
				t.Fatal(err)
			}
			r := e.run("", "load", "-i", load)
			if r.code != 0 {
				t.Fatalf("load: %s", r.stderr)
			}
			warned := strings.Contains(r.stderr, "WARNING: neither pasta (Debian package passt) nor slirp4netns (Debian package slirp4netns) is installed")
			if warned != (uplink == "none") {
				t.Errorf("first command's stderr (uplink %s): %q", uplink, r.stderr)
			}
			info := e.run("", "info")
			if noWarning := !strings.Contains(info.stderr, "WARNING: No outbound network for containers and RUN steps: neither pasta"); noWarning != (uplink != "none") {
				t.Errorf("info's warnings (uplink %s): %q", uplink, info.stderr)
			}
			if !strings.Contains(info.stdout, "  Outbound: "+uplink+"\n") {
				t.Errorf("info lacks Outbound: %s:\n%s", uplink, info.stdout)
			}

			got := e.run("", "run", "--rm", "busybox", "sh", "-c", reach)
			if reached := strings.Contains(got.stdout, svc.marker); reached != (uplink != "none") {
				t.Errorf("container through %s reaching %s: exit %d, %q %q", uplink, svc.addr, got.code, got.stdout, got.stderr)
			}
			if uplink == "slirp4netns" && !strings.Contains(got.stdout, "ended") {
				t.Errorf("through slirp4netns the connection's end does not reach the container: %q", got.stdout)
			}
			ctxDir := filepath.Join(e.dir, "ctx")
			testutil.WriteFiles(t, ctxDir, map[string]string{"Dockerfile": "FROM busybox\nRUN (" + reach + ") > /got || true\n"})
			_ = filepath.Walk(ctxDir, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
			if r := e.run("", "build", "-q", "-t", "reached", ctxDir); r.code != 0 {
				t.Errorf("build: exit %d: %s", r.code, r.stderr)
			} else if got := e.ok("run", "--rm", "reached", "cat", "/got"); strings.Contains(got, svc.marker) != (uplink != "none") {
				t.Errorf("RUN through %s reaching %s: %q", uplink, svc.addr, got)
			}
			// The gateway of the rootless namespace (pasta's copy of the host's, slirp4netns's
			// 10.0.2.2) does not lead to the host's loopback.
			probe := fmt.Sprintf(`gw=$(ip route | awk '/^default/ {print $3}'); echo "gw=$gw"; `+
				`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 "$gw" %s`, loopPort)
			if got := e.run("", "run", "--rm", "--network", "host", "busybox", "sh", "-c", probe); strings.Contains(got.stdout, loop.marker) ||
				(uplink != "none" && !strings.Contains(got.stdout, "gw=1")) {
				t.Errorf("through the gateway address (uplink %s): %q %q", uplink, got.stdout, got.stderr)
			}
			if loop.hits.Load() != 0 {
				t.Errorf("the host's loopback listener was reached")
			}

			e.ok("run", "--rm", "--network", "none", "busybox", "true")
			port := freePorts(t, 1)
			e.ok("run", "-d", "--name", "web", "-p", fmt.Sprintf("%d:80", port), "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/hostname", port))
			if err != nil {
				t.Errorf("published port (uplink %s): %v", uplink, err)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			e.ok("rm", "-f", "web")
		})
	}
}

// pathWithout is a directory of links to every program of /usr/bin but those named: a PATH
// without slirp4netns (or pasta) is how a host without that Debian package looks to hoist.
func pathWithout(t *testing.T, dir string, drop ...string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin-without-"+strings.Join(drop, "-"))
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/usr/bin")
	if err != nil {
		t.Fatal(err)
	}
next:
	for _, ent := range ents {
		for _, d := range drop {
			if ent.Name() == d {
				continue next
			}
		}
		if err := os.Symlink(filepath.Join("/usr/bin", ent.Name()), filepath.Join(bin, ent.Name())); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range drop {
		if p, err := exec.LookPath(d); err == nil && !strings.HasPrefix(p, "/usr/bin/") {
			t.Fatalf("%s is at %s: the test hides /usr/bin's programs only", d, p)
		}
	}
	return "/usr/local/bin:" + bin
}

// outsideService is an HTTP server (busybox httpd) outside the host: in a network namespace of
// its own, reached by the host's routing through a veth pair on a TEST-NET-2 /30 (no uplink copies
// it into the rootless namespace, as pasta does the host's own address). It and its link vanish
// when the test ends.
func outsideService(t *testing.T) *listener {
	t.Helper()
	dir := t.TempDir()
	l := &listener{marker: fmt.Sprintf("outside-service-%d", rand.Int63())}
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte(l.marker+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bb, "httpd", "-f", "-p", "8080", "-h", dir)
	srv.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	pid := strconv.Itoa(srv.Process.Pid)
	ipcmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	link := fmt.Sprintf("hst%06x", rand.Intn(1<<24))
	ipcmd("ip", "link", "add", link, "type", "veth", "peer", "name", "eth0", "netns", pid)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", link).Run() })
	var net4 int
	for i := 0; ; i++ {
		net4 = 4 * rand.Intn(64)
		out, err := exec.Command("ip", "addr", "add", fmt.Sprintf("198.51.100.%d/30", net4+1), "dev", link).CombinedOutput()
		if err == nil {
			break
		}
		if i == 10 {
			t.Fatalf("ip addr add 198.51.100.%d/30 dev %s: %v: %s", net4+1, link, err, out)
		}
	}
	ipcmd("ip", "link", "set", link, "up")
	far := fmt.Sprintf("198.51.100.%d", net4+2)
	ipcmd("nsenter", "-t", pid, "-n", "ip", "addr", "add", far+"/30", "dev", "eth0")
	ipcmd("nsenter", "-t", pid, "-n", "ip", "link", "set", "eth0", "up")
	l.addr = far + ":8080"
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", l.addr, time.Second)
		if err == nil {
			c.Close()
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outside service %s does not answer: %v", l.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
