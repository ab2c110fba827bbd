package cgroups

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats reads the cgroup's counters. Counters a controller does not offer
// stay zero.
func (cg *Cgroup) Stats() (Stats, error) {
	var s Stats
	if cg.V2 {
		d := cg.Paths[""]
		if kv, err := readKV(filepath.Join(d, "cpu.stat")); err == nil {
			s.CPUNanos = kv["usage_usec"] * 1000
		}
		s.MemoryUsage = readUint(filepath.Join(d, "memory.current"))
		s.MemoryLimit = readUint(filepath.Join(d, "memory.max"))
		s.Pids = readUint(filepath.Join(d, "pids.current"))
		if data, err := os.ReadFile(filepath.Join(d, "io.stat")); err == nil {
			for _, f := range strings.Fields(string(data)) {
				k, v, _ := strings.Cut(f, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				switch k {
				case "rbytes":
					s.BlockRead += n
				case "wbytes":
					s.BlockWrite += n
				}
			}
		}
		return s, nil
	}
	if d, ok := cg.Paths["cpuacct"]; ok {
		s.CPUNanos = readUint(filepath.Join(d, "cpuacct.usage"))
	}
	if d, ok := cg.Paths["memory"]; ok {
		s.MemoryUsage = readUint(filepath.Join(d, "memory.usage_in_bytes"))
		if kv, err := readKV(filepath.Join(d, "memory.stat")); err == nil {
			// docker subtracts the page cache that can be reclaimed
			if c := kv["total_inactive_file"]; c < s.MemoryUsage {
				s.MemoryUsage -= c
			}
		}
		s.MemoryLimit = readUint(filepath.Join(d, "memory.limit_in_bytes"))
	}
	if d, ok := cg.Paths["pids"]; ok {
		s.Pids = readUint(filepath.Join(d, "pids.current"))
	}
	if d, ok := cg.Paths["blkio"]; ok {
		if data, err := os.ReadFile(filepath.Join(d, "blkio.throttle.io_service_bytes")); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Fields(line)
				if len(f) != 3 {
					continue
				}
				n, _ := strconv.ParseUint(f[2], 10, 64)
				switch f[1] {
				case "Read":
					s.BlockRead += n
				case "Write":
					s.BlockWrite += n
				}
			}
		}
	}
	return s, nil
}

// OOMKilled reports whether the kernel's OOM killer killed a process of the
// cgroup because of its memory limit.
func (cg *Cgroup) OOMKilled() bool {
	if cg.V2 {
		kv, err := readKV(filepath.Join(cg.Paths[""], "memory.events"))
		return err == nil && kv["oom_kill"] > 0
	}
	d, ok := cg.Paths["memory"]
	if !ok {
		return false
	}
	kv, err := readKV(filepath.Join(d, "memory.oom_control"))
	return err == nil && kv["oom_kill"] > 0
}

func readUint(path string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64) // "max" → 0
	return n
}

func readKV(path string) (map[string]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		out[k] = n
	}
	return out, sc.Err()
}
