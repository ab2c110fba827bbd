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
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 90}); err != nil {
		t.Fatal(err)
	}
	s := &ptySession{t: t, ptmx: ptmx, cmd: hoistCmd(root, args...), done: make(chan error, 1)}
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
