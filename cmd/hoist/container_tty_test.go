package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// runOnPty runs hoist with a fresh pty of size rows x cols as its stdin, stdout and stderr, and
// returns everything written to the terminal. The run is killed after timeout.
func runOnPty(t *testing.T, root string, rows, cols uint16, timeout time.Duration, args ...string) string {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	c := hoistCmd(root, args...)
	c.Stdin, c.Stdout, c.Stderr = tty, tty, tty
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	timer := time.AfterFunc(timeout, func() { _ = c.Process.Kill() })
	defer timer.Stop()
	got, _ := io.ReadAll(ptmx) // EIO once hoist and the container are gone
	if err := c.Wait(); err != nil {
		t.Fatalf("hoist %q: %v (output %q)", args, err, got)
	}
	return string(got)
}

// run -t gives the container a pty of its own devpts instance, as docker does: tty inside names
// it, with or without a terminal on hoist's side.
func TestRunTty(t *testing.T) {
	root := containerRoot(t)
	// Without a terminal (docker run -t works without one too); the pty's CRLF comes through.
	res := hoist(t, root, "", "run", "--rm", "-t", "--network", "none", "busybox", "tty")
	if res.code != 0 || res.stdout != "/dev/pts/0\r\n" {
		t.Errorf("run -t tty without a terminal: %+v, want stdout %q", res, "/dev/pts/0\r\n")
	}
	// On a terminal: the size follows it, the pty belongs to the user. Without -i hoist's terminal
	// stays cooked, so its own ONLCR adds a second CR (docker prints "/dev/pts/0\r\r\n" too).
	got := runOnPty(t, root, 33, 77, time.Minute, "run", "--rm", "-t", "-u", "nobody", "--network", "none", "busybox",
		"sh", "-c", "tty; stty size; stat -c '%u %a' $(tty)")
	if want := "/dev/pts/0\r\r\n33 77\r\r\n65534 620\r\r\n"; got != want {
		t.Errorf("run -t on a terminal printed %q, want %q", got, want)
	}
	// create -t, then start -a.
	if res := hoist(t, root, "", "create", "-t", "--network", "none", "--name", "tt", "busybox", "sh", "-c", "tty; stty size"); res.code != 0 {
		t.Fatalf("create -t: %+v", res)
	}
	got = runOnPty(t, root, 40, 100, time.Minute, "start", "-a", "tt")
	if want := "/dev/pts/0\r\r\n40 100\r\r\n"; got != want {
		t.Errorf("start -a of a -t container printed %q, want %q", got, want)
	}
	if logs := hoist(t, root, "", "logs", "tt").stdout; !strings.HasPrefix(logs, "/dev/pts/0") {
		t.Errorf("logs of the -t container: %q", logs)
	}
}
