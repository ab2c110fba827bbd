package main

import (
	"strings"
	"testing"
)

// TestRunUlimitShmSizeInit: run's --ulimit, --shm-size and --init reach the container; bad values exit
// 125 naming the flag and create nothing.
func TestRunUlimitShmSizeInit(t *testing.T) {
	root := containerRoot(t)
	r := hoist(t, root, "", "run", "--rm", "--network", "none", "--ulimit", "nofile=512:512", "--shm-size", "32m",
		"--init", "busybox", "sh", "-c", "ulimit -n; df -k /dev/shm | tail -1; cat /proc/1/cmdline | tr '\\0' ' '")
	if r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || lines[0] != "512" || !strings.Contains(lines[1], " 32768 ") {
		t.Errorf("ulimit -n / df /dev/shm: %q", r.stdout)
	}
	if strings.HasPrefix(lines[len(lines)-1], "sh ") {
		t.Errorf("with --init, PID 1 is the command itself: %q", lines[len(lines)-1])
	}
	for _, bad := range [][]string{{"--ulimit", "nofile=x"}, {"--shm-size", "lots"}} {
		r := hoist(t, root, "", append(append([]string{"run", "--rm", "--name", "bad"}, bad...), "busybox", "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, bad[0]) {
			t.Errorf("%v: exit %d, stderr %q; want 125 naming %s", bad, r.code, r.stderr, bad[0])
		}
	}
	if ps := hoist(t, root, "", "ps", "-aq"); strings.TrimSpace(ps.stdout) != "" {
		t.Errorf("refused runs left containers: %q", ps.stdout)
	}
}
