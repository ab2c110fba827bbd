package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// run -it is a terminal session that Ctrl-P Ctrl-Q (or --detach-keys) detaches from, leaving the
// container running (exit 0, nothing printed: docker's run), and `attach` reattaches. The same
// session runs against docker (the oracle of the exit statuses and of the silence) and hoist.
func TestRunInteractiveDetach(t *testing.T) {
	root := containerRoot(t)
	t.Run("hoist", func(t *testing.T) {
		runItScript(t, hoistEngine(root), func(args ...string) *exec.Cmd { return hoistCmd(root, args...) })
	})
	t.Run("docker", func(t *testing.T) {
		runItScript(t, dockerEngine(t), func(args ...string) *exec.Cmd { return exec.Command(dockerBin, args...) })
	})
}

func runItScript(t *testing.T, e engine, command func(args ...string) *exec.Cmd) {
	name := e.names + "it"
	s := startCmdOnPty(t, command("run", "-it", "--name", name, "--network", "none", "busybox", "sh"))
	s.expect("# ")
	s.send("stty size; echo mark-$((6*7))\r")
	s.expect("30 90\r\nmark-42\r\n")
	s.send("\x10\x11")
	if code := s.wait(); code != 0 || strings.Contains(s.output(), "escape") {
		t.Errorf("%s: Ctrl-P Ctrl-Q in run -it: exit %d, terminal %q; want 0 and no message", e.name, code, s.output())
	}
	psStatus(t, e, name, `^Up `)
	// attach reattaches; the shell's exit status is attach's.
	a := startCmdOnPty(t, command("attach", name))
	a.send("\r")
	a.expect("# ")
	a.send("echo back-$((1+2)); exit 7\r")
	a.expect("back-3")
	if code := a.wait(); code != 7 {
		t.Errorf("%s: attach then exit 7: exit %d, terminal %q", e.name, code, a.output())
	}
	psStatus(t, e, name, `^Exited \(7\) `)

	// --detach-keys on run.
	keyed := e.names + "keys"
	s = startCmdOnPty(t, command("run", "-it", "--detach-keys", "ctrl-x", "--name", keyed, "--network", "none", "busybox", "sh"))
	s.expect("# ")
	s.send("\x18")
	if code := s.wait(); code != 0 {
		t.Errorf("%s: --detach-keys ctrl-x: exit %d, terminal %q", e.name, code, s.output())
	}
	psStatus(t, e, keyed, `^Up `)

	// run --rm -it: the command's exit status, then the container is gone.
	gone := e.names + "rm"
	s = startCmdOnPty(t, command("run", "--rm", "-it", "--name", gone, "--network", "none", "busybox", "sh", "-c", "echo hi-$((2*3)); exit 3"))
	s.expect("hi-6")
	if code := s.wait(); code != 3 {
		t.Errorf("%s: run --rm -it ... exit 3: exit %d, terminal %q", e.name, code, s.output())
	}
	waitFor(t, 2*time.Minute, e.name+" --rm container removed", func() bool {
		return strings.TrimSpace(e.run(t, "", "ps", "-aq", "--filter", "name="+gone).stdout) == ""
	})
}

// A bad --detach-keys is refused before anything is created (docker 20.10 garbles this case:
// "Unrecognized input header", exit 1).
func TestRunBadDetachKeys(t *testing.T) {
	root := containerRoot(t)
	res := hoist(t, root, "", "run", "-it", "--detach-keys", "ctrl-1", "busybox", "true")
	if res.code != 125 || !strings.Contains(res.stderr, "invalid detach keys") {
		t.Errorf("run --detach-keys ctrl-1: %+v", res)
	}
	if ps := hoist(t, root, "", "ps", "-aq"); ps.stdout != "" {
		t.Errorf("a container was created: %q", ps.stdout)
	}
}
