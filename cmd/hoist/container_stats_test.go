package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const statsHeader = "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"

// statsRow is docker's `stats --no-stream` line: ID NAME CPU% USAGE / LIMIT MEM% NET BLOCK PIDS.
var statsRow = regexp.MustCompile(`^([0-9a-f]{12}) +(\S+) +([0-9.]+)% +([0-9.]+)MiB / ([0-9.]+)MiB +([0-9.]+)% +\S+ / \S+ +\S+ / \S+ +(\d+)$`)

// stats --no-stream shows what the container really uses: the CPU share its --cpus quota allows a
// busy loop, the memory it holds (20 MiB of tmpfs) against its --memory limit, and its processes.
func TestStatsNoStream(t *testing.T) {
	root := containerRoot(t)
	script := "head -c 20m /dev/zero > /dev/shm/f; sleep 1000 & sleep 1000 & sleep 1000 & echo busy; while :; do :; done"
	res := hoist(t, root, "", "run", "-d", "--network", "none", "--name", "busy", "--memory", "64m", "--cpus", "0.5",
		"busybox", "sh", "-c", script)
	if res.code != 0 {
		t.Fatalf("run -d: %+v", res)
	}
	waitFor(t, 10*time.Second, "the container to be busy", func() bool {
		return hoist(t, root, "", "logs", "busy").stdout == "busy\n"
	})
	// The CPU figure is a 500 ms sample: let the quota settle first.
	time.Sleep(300 * time.Millisecond)
	out := hoist(t, root, "", "stats", "--no-stream", "busy")
	lines := strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n")
	if out.code != 0 || len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != statsHeader {
		t.Fatalf("stats --no-stream: %+v", out)
	}
	m := statsRow.FindStringSubmatch(lines[1])
	if m == nil {
		t.Fatalf("stats row %q does not look like docker's", lines[1])
	}
	num := func(s string) float64 {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("stats row %q: %v", lines[1], err)
		}
		return f
	}
	cpu, usage, limit, memPct := num(m[3]), num(m[4]), num(m[5]), num(m[6])
	if m[2] != "busy" {
		t.Errorf("name %q", m[2])
	}
	if cpu < 25 || cpu > 75 {
		t.Errorf("CPU %% = %v, want about 50 (a busy loop under --cpus 0.5)", cpu)
	}
	if limit != 64 {
		t.Errorf("memory limit %v MiB, want 64", limit)
	}
	if usage < 20 || usage > 40 {
		t.Errorf("memory usage %v MiB, want 20 MiB of tmpfs plus a little", usage)
	}
	if want := usage / limit * 100; memPct < want-0.1 || memPct > want+0.1 {
		t.Errorf("MEM %% = %v, want %.2f", memPct, want)
	}
	if m[7] != "4" {
		t.Errorf("PIDS = %s, want 4 (sh and three sleeps)", m[7])
	}
	// A stopped container is listed with -a, with zeros, in docker's columns (minimum width 10).
	hoist(t, root, "", "stop", "-t", "0", "busy")
	out = hoist(t, root, "", "stats", "--no-stream", "-a")
	if !strings.Contains(out.stdout, " busy ") || !strings.HasSuffix(out.stdout, "   0\n") ||
		!strings.Contains(out.stdout, "0.00%     0B / 0B             0.00%") { // docker's columns
		t.Errorf("stats -a of a stopped container: %+v", out)
	}
}
