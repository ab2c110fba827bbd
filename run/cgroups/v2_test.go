package cgroups

import (
	"os"
	"path/filepath"
	"testing"
)

// This host runs cgroup v1, so the v2 code is checked against the v2 interface files' documented
// formats (Documentation/admin-guide/cgroup-v2.rst) in a plain directory: what apply writes, and what
// Stats and OOMKilled read.

func TestApplyV2Files(t *testing.T) {
	tests := []struct {
		name string
		r    Resources
		want map[string]string
	}{
		{"memory", Resources{Memory: 64 << 20}, map[string]string{"memory.max": "67108864", "memory.swap.max": "0"}},
		{"half a CPU", Resources{NanoCPUs: 5e8}, map[string]string{"cpu.max": "50000 100000"}},
		{"two CPUs", Resources{NanoCPUs: 2e9}, map[string]string{"cpu.max": "200000 100000"}},
		{"pids", Resources{PidsLimit: 10}, map[string]string{"pids.max": "10"}},
		{"nothing", Resources{}, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cg := &Cgroup{V2: true, Paths: map[string]string{"": dir}}
			if err := cg.apply(tc.r); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != len(tc.want) {
				t.Errorf("wrote %d files, want %d", len(entries), len(tc.want))
			}
			for f, want := range tc.want {
				// write creates a missing file with mode 0 (a cgroup's files always exist): only root
				// could read it back.
				if err := os.Chmod(filepath.Join(dir, f), 0o600); err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil || string(got) != want {
					t.Errorf("%s = %q (%v), want %q", f, got, err, want)
				}
			}
		})
	}
}

func TestStatsV2(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"cpu.stat":       "usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n",
		"memory.current": "23068672\n",
		"memory.max":     "67108864\n",
		"pids.current":   "4\n",
		"io.stat":        "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=100 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
		"memory.events":  "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
	}
	for f, c := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cg := &Cgroup{V2: true, Paths: map[string]string{"": dir}}
	s, err := cg.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{CPUNanos: 1500000000, MemoryUsage: 23068672, MemoryLimit: 67108864, Pids: 4, BlockRead: 4196, BlockWrite: 8192}
	if s != want {
		t.Errorf("Stats = %+v, want %+v", s, want)
	}
	if !cg.OOMKilled() {
		t.Error("OOMKilled = false with oom_kill 1")
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte("oom 0\noom_kill 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cg.OOMKilled() {
		t.Error("OOMKilled = true with oom_kill 0")
	}
	// No limit: memory.max holds "max", which is no number.
	if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte("max\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, _ := cg.Stats(); s.MemoryLimit != 0 {
		t.Errorf("MemoryLimit with memory.max=max: %d, want 0 (unknown)", s.MemoryLimit)
	}
}
