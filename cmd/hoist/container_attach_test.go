package main

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// attachClient is a running `hoist attach` with its stdin and stdout lines.
type attachClient struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // closed at EOF
	done  chan error  // the Wait result, once
}

// startAttach starts `hoist attach args...` with first already written to its stdin: the input is
// there before attach looks at the log, so output it causes is missed if attach sends input before
// it is positioned at the log's end.
func startAttach(t *testing.T, root, first string, args ...string) *attachClient {
	t.Helper()
	cmd := hoistCmd(root, append([]string{"attach"}, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, first+"\n"); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &attachClient{cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			a.lines <- sc.Text()
		}
		close(a.lines)
		a.done <- cmd.Wait()
	}()
	// Never leave the client behind, whatever the test did.
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return a
}

// send writes line to the container through the client and expects want back within 10 s.
func (a *attachClient) send(t *testing.T, line, want string) {
	t.Helper()
	if _, err := io.WriteString(a.stdin, line+"\n"); err != nil {
		t.Fatalf("writing %q to attach: %v", line, err)
	}
	a.expect(t, line, want)
}

// expect expects want as the next output line within 10 s of sending line.
func (a *attachClient) expect(t *testing.T, line, want string) {
	t.Helper()
	select {
	case got, ok := <-a.lines:
		if !ok || got != want {
			t.Fatalf("after sending %q attach printed %q (open %v), want %q", line, got, ok, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no output from attach 10 s after sending %q", line)
	}
}

// wait returns the client's exit code once it ends (within 10 s).
func (a *attachClient) wait(t *testing.T) int {
	t.Helper()
	for range a.lines {
	}
	select {
	case err := <-a.done:
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		} else if err != nil {
			t.Fatalf("attach: %v", err)
		}
		return 0
	case <-time.After(10 * time.Second):
		t.Fatal("attach still running 10 s after its container should have stopped")
		return -1
	}
}

// attach to a detached -i container: input reaches its stdin, its output comes back, the container
// outlives a client that goes away (and keeps its stdin), and attach exits with the container's status.
func TestAttach(t *testing.T) {
	root := containerRoot(t)
	script := `echo ready; while read -r l; do echo "got $l"; [ "$l" = quit ] && exit 5; done`
	if res := hoist(t, root, "", "run", "-di", "--network", "none", "--name", "echo", "busybox", "sh", "-c", script); res.code != 0 {
		t.Fatalf("run -di: %+v", res)
	}
	waitFor(t, 10*time.Second, "the container to start reading", func() bool {
		return hoist(t, root, "", "logs", "echo").stdout == "ready\n"
	})
	// Only what comes after attaching is shown (ready is not repeated).
	a := startAttach(t, root, "hello", "echo")
	a.expect(t, "hello", "got hello")
	a.send(t, "world", "got world")
	// The client goes away (killed): the container keeps running with its stdin open.
	if err := a.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	a.wait(t)
	if got := hoist(t, root, "", "inspect", "--format", "{{.State.Status}}", "echo").stdout; got != "running\n" {
		t.Fatalf("after the client was killed the container is %q, want running", got)
	}
	b := startAttach(t, root, "again", "echo")
	b.expect(t, "again", "got again")
	b.send(t, "quit", "got quit")
	if code := b.wait(t); code != 5 {
		t.Errorf("attach exited %d, want the container's 5", code)
	}
	if got := hoist(t, root, "", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "echo").stdout; got != "exited 5\n" {
		t.Errorf("after quit: %q", got)
	}
	if logs := hoist(t, root, "", "logs", "echo").stdout; logs != "ready\ngot hello\ngot world\ngot again\ngot quit\n" {
		t.Errorf("logs: %q", logs)
	}
	// A stopped container cannot be attached to.
	res := hoist(t, root, "", "attach", "echo")
	if res.code == 0 || !strings.Contains(res.stderr, "cannot attach to a stopped container") {
		t.Errorf("attach to a stopped container: %+v", res)
	}
}
