package main

import (
	"os"
	"path/filepath"
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
	pid, err := strconv.Atoi(strings.TrimSpace(hoist(t, root, "", "inspect", "--format", "{{.State.Pid}}", "busy").stdout))
	if err != nil {
		t.Fatal(err)
	}
	used0, at0 := cgroupCPU(t, pid), time.Now()
	out := hoist(t, root, "", "stats", "--no-stream", "busy")
	used, window := cgroupCPU(t, pid)-used0, time.Since(at0)
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
	// The figure is the cgroup's CPU time over a sample of at least 500 ms taken while `stats` ran, so
	// it is checked against the cgroup's own accounting over that window, not against a share of the
	// wall clock that a busy host may not give the container: more than nothing, no more than the
	// --cpus 0.5 quota allows, and no more CPU time than the cgroup used in the whole window.
	t.Logf("stats: CPU %v %%; the cgroup used %v of CPU in the %v around it", cpu, used, window.Round(time.Millisecond))
	if cpu <= 0 || cpu > 60 {
		t.Errorf("CPU %% = %v, want more than 0 and at most the 50 %% of --cpus 0.5", cpu)
	}
	if claimed := time.Duration(cpu / 100 * float64(500*time.Millisecond)); claimed > used+used/20+5*time.Millisecond {
		t.Errorf("CPU %% = %v claims at least %v of CPU time in a 500 ms sample; the cgroup used %v in the %v around it",
			cpu, claimed, used, window)
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

// cgroupFile is the path of file in the cgroup of pid that holds controller ("cpuacct" on cgroup v1,
// "" for the v2 hierarchy), seen from the host's cgroup namespace.
func cgroupFile(t *testing.T, pid int, controller, file string) string {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c != controller {
				continue
			}
			dir := "/sys/fs/cgroup"
			if controller != "" {
				dir = filepath.Join(dir, f[1])
			}
			if p := filepath.Join(dir, f[2], file); fileExists(p) {
				return p
			}
		}
	}
	return ""
}

// cgroupStat reads key from a flat-keyed cgroup file ("key value" lines).
func cgroupStat(t *testing.T, path, key string) uint64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("%s has no %s", path, key)
	return 0
}

// cgroupCPU is the CPU time pid's cgroup has used: cpuacct.usage on cgroup v1, usage_usec of
// cpu.stat on v2.
func cgroupCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	if p := cgroupFile(t, pid, "cpuacct", "cpuacct.usage"); p != "" {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(n)
	}
	if p := cgroupFile(t, pid, "", "cpu.stat"); p != "" {
		return time.Duration(cgroupStat(t, p, "usage_usec")) * time.Microsecond
	}
	t.Fatalf("no CPU accounting for the cgroup of pid %d", pid)
	return 0
}
