package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestStatsSamplesAllAtOnce (issue 11, bug 14): `stats` samples every container over the same
// 500 ms, so four containers take one sample's time, not four (2 s when sampled one after another).
func TestStatsSamplesAllAtOnce(t *testing.T) {
	root := containerRoot(t)
	var names []string
	for _, n := range []string{"s1", "s2", "s3", "s4"} {
		mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "--name", n, "busybox", "sleep", "1000"), "run -d "+n)
		names = append(names, n)
	}
	start := time.Now()
	out := hoist(t, root, "", append([]string{"stats", "--no-stream"}, names...)...)
	took := time.Since(start)
	if out.code != 0 || strings.Count(out.stdout, "\n") != 5 {
		t.Fatalf("stats --no-stream: %+v", out)
	}
	for _, n := range names {
		if !strings.Contains(out.stdout, " "+n+" ") {
			t.Errorf("no row for %s:\n%s", n, out.stdout)
		}
	}
	if took >= 2*time.Second {
		t.Errorf("stats --no-stream of 4 containers took %v: sampled one after another", took.Round(time.Millisecond))
	}
}

// TestStatsRedrawsOnATerminal (issue 11, bug 14): streaming `stats` on a terminal clears the screen
// and homes the cursor before every frame, as docker does; piped, it prints plain frames.
func TestStatsRedrawsOnATerminal(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "run", "-d", "--network", "none", "--name", "idle", "busybox", "sleep", "1000"), "run -d")
	const clear = "\033[2J\033[H"

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	cmd := hoistCmd(root, "stats", "idle")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var got bytes.Buffer
	buf := make([]byte, 4096)
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(got.String(), "CONTAINER ID") < 2 && time.Now().Before(deadline) {
		ptmx.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := ptmx.Read(buf)
		got.Write(buf[:n])
	}
	frames := strings.Split(got.String(), clear)
	if len(frames) < 3 || frames[0] != "" {
		t.Fatalf("want every frame to start with clear screen + home, got %q", got.String())
	}
	for _, f := range frames[1:] {
		if f != "" && !strings.HasPrefix(f, "CONTAINER ID") {
			t.Errorf("frame %q does not start with the header", f)
		}
	}

	piped := hoistCmd(root, "stats", "idle")
	stdout, err := piped.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := piped.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { piped.Process.Kill(); piped.Wait() }()
	head := make([]byte, len("CONTAINER ID"))
	if _, err := io.ReadFull(stdout, head); err != nil || string(head) != "CONTAINER ID" {
		t.Errorf("piped stats starts with %q (%v), want the header", head, err)
	}
}
