package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestExecEnvFile: exec --env-file reads KEY=VALUE lines (comments and blank lines skipped, -e
// after it wins), as docker exec does; a missing file exits 125 naming the flag.
func TestExecEnvFile(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "run", "-d", "--name", "envx", "--network", "none", "busybox", "sleep", "100"), "run -d")
	f := filepath.Join(t.TempDir(), "env")
	if err := os.WriteFile(f, []byte("# comment\n\nA=from-file\nB=b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := hoist(t, root, "", "exec", "--env-file", f, "-e", "B=from-flag", "envx", "sh", "-c", "echo $A $B")
	if r.code != 0 || r.stdout != "from-file from-flag\n" {
		t.Errorf("exec --env-file: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = hoist(t, root, "", "exec", "--env-file", "/nonexistent", "envx", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "--env-file") {
		t.Errorf("missing --env-file: exit %d, stderr %q; want 125 naming the flag", r.code, r.stderr)
	}
}

// TestLogsUntil: logs --until leaves out what was logged after the time (RFC 3339 or relative), as
// docker logs does; a bad value exits non-zero naming it.
func TestLogsUntil(t *testing.T) {
	root := containerRoot(t)
	mustOK(t, hoist(t, root, "", "run", "-d", "--name", "untilx", "--network", "none", "busybox",
		"sh", "-c", "echo one; sleep 1.5; echo two"), "run -d")
	waitFor(t, 10*time.Second, "both lines", func() bool {
		return hoist(t, root, "", "logs", "untilx").stdout == "one\ntwo\n"
	})
	first := strings.Fields(hoist(t, root, "", "logs", "-t", "untilx").stdout)[0]
	at, err := time.Parse(time.RFC3339Nano, first)
	if err != nil {
		t.Fatalf("timestamp %q: %v", first, err)
	}
	until := at.Add(500 * time.Millisecond).Format(time.RFC3339Nano)
	if r := hoist(t, root, "", "logs", "--until", until, "untilx"); r.code != 0 || r.stdout != "one\n" {
		t.Errorf("logs --until %s: exit %d, stdout %q", until, r.code, r.stdout)
	}
	if r := hoist(t, root, "", "logs", "--until", "0s", "untilx"); r.stdout != "one\ntwo\n" {
		t.Errorf("logs --until 0s (now): stdout %q", r.stdout)
	}
	if r := hoist(t, root, "", "logs", "--until", "yesterday", "untilx"); r.code == 0 || !strings.Contains(r.stderr, "yesterday") {
		t.Errorf("logs --until yesterday: exit %d, stderr %q", r.code, r.stderr)
	}
}
