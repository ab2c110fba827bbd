package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// ptySession is a hoist command on a terminal that a test types into.
type ptySession struct {
	t    *testing.T
	ptmx *os.File
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan error
}

func startOnPty(t *testing.T, root string, args ...string) *ptySession {
	t.Helper()
	return startCmdOnPty(t, hoistCmd(root, args...))
}

// startCmdOnPty starts cmd (hoist or docker) on a fresh 30x90 terminal.
func startCmdOnPty(t *testing.T, cmd *exec.Cmd) *ptySession {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 90}); err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, ptmx: ptmx, cmd: cmd, done: make(chan error, 1)}
	s.cmd.Stdin, s.cmd.Stdout, s.cmd.Stderr = tty, tty, tty
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				break
			}
		}
		s.done <- s.cmd.Wait()
	}()
	t.Cleanup(func() { _ = s.cmd.Process.Kill(); ptmx.Close() })
	return s
}

func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// expect waits up to 20 s for want to appear in the terminal's output.
func (s *ptySession) expect(want string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.output(), want) {
		if time.Now().After(deadline) {
			s.t.Fatalf("waiting for %q on the terminal; got %q", want, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *ptySession) send(b string) {
	s.t.Helper()
	if _, err := s.ptmx.WriteString(b); err != nil {
		s.t.Fatal(err)
	}
}

// wait returns hoist's exit status once it is done (20 s at most).
func (s *ptySession) wait() int {
	s.t.Helper()
	select {
	case err := <-s.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		return 0
	case <-time.After(20 * time.Second):
		s.t.Fatalf("hoist %q still running; terminal: %q", s.cmd.Args, s.output())
	}
	return -1
}

// login on a terminal prompts for Username and Password, the password not echoed; without a
// terminal it says it cannot prompt.
func TestLoginPrompts(t *testing.T) {
	root := newRoot(t)
	reg := testutil.RegistryWith(t, testutil.RegistryConfig{Htpasswd: testutil.Htpasswd(t, "alice", "s3cret")})
	auth := filepath.Join(t.TempDir(), "config.json")
	s := startOnPty(t, root, "login", "--authfile", auth, reg)
	s.expect("Username: ")
	s.send("alice\n")
	s.expect("Password: ")
	s.send("s3cret\n")
	if code := s.wait(); code != 0 || !strings.Contains(s.output(), "Login Succeeded") || strings.Contains(s.output(), "s3cret") {
		t.Errorf("login on a terminal: exit %d, terminal %q", code, s.output())
	}
	if b, _ := os.ReadFile(auth); !strings.Contains(string(b), reg) {
		t.Errorf("auth file after login: %s", b)
	}
	s = startOnPty(t, root, "login", "--authfile", auth, "-u", "alice", reg)
	s.expect("Password: ")
	s.send("wrong\n")
	if code := s.wait(); code != 1 || strings.Contains(s.output(), "Username") {
		t.Errorf("login -u with a wrong password: exit %d, terminal %q", code, s.output())
	}
	res := hoist(t, root, "", "login", "--authfile", auth, reg)
	if res.code != 1 || res.stderr != "Error: cannot perform an interactive login from a non TTY device\n" {
		t.Errorf("login without a terminal: %+v", res)
	}
}

// attach to a -it container is a terminal: raw mode (input not echoed twice, no \r\r\n), the
// terminal's size, Ctrl-C reaches the container, Ctrl-P Ctrl-Q (or --detach-keys) detaches with
// docker's message and exit status 1, leaving the container running.
func TestAttachTty(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "run", "-dit", "--network", "none", "--name", "tty1", "busybox", "sh"), "run -dit")
	s := startOnPty(t, root, "attach", "tty1")
	time.Sleep(300 * time.Millisecond) // attach positions itself at the log's end
	s.send("stty size; echo mark-$((6*7))\r")
	s.expect("30 90\r\nmark-42\r\n")
	if out := s.output(); strings.Count(out, "stty size") != 1 || strings.Contains(out, "\r\r\n") {
		t.Errorf("terminal output %q: input echoed twice or cooked newlines", out)
	}
	s.send("sleep 30; echo after-$((2+3))\r")
	time.Sleep(300 * time.Millisecond)
	s.send("\x03") // Ctrl-C: the container's shell interrupts sleep
	s.send("echo interrupted-$((1+1))\r")
	s.expect("interrupted-2\r\n")
	if strings.Contains(s.output(), "after-5") {
		t.Errorf("Ctrl-C did not reach the container: %q", s.output())
	}
	s.send("\x10\x11")
	if code := s.wait(); code != 1 || !strings.HasSuffix(s.output(), "read escape sequence\r\n") {
		t.Errorf("Ctrl-P Ctrl-Q: exit %d, terminal %q", code, s.output())
	}
	if res := hoist(t, root, "", "inspect", "-f", "{{.State.Running}}", "tty1"); res.stdout != "true\n" {
		t.Errorf("after detaching: %+v, want the container running", res)
	}
	s = startOnPty(t, root, "attach", "--detach-keys", "ctrl-x", "tty1")
	time.Sleep(300 * time.Millisecond)
	s.send("echo again\r")
	s.expect("again\r\n")
	s.send("\x18")
	if code := s.wait(); code != 1 {
		t.Errorf("--detach-keys ctrl-x: exit %d, terminal %q", code, s.output())
	}
	if res := hoist(t, root, "", "attach", "--detach-keys", "ctrl-1", "tty1"); res.code != 1 || !strings.Contains(res.stderr, "invalid detach keys") {
		t.Errorf("attach --detach-keys ctrl-1: %+v", res)
	}
}
