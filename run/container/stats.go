package container

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is one stats sample of a container.
type Usage struct {
	CPUPercent            float64
	MemUsage, MemLimit    uint64
	NetRx, NetTx          uint64
	BlockRead, BlockWrite uint64
	Pids                  uint64
}

// Stats samples the container's cgroup over interval (StatsAll for one container).
func (r *Runtime) Stats(ctx context.Context, ref string, interval time.Duration) (*Container, Usage, error) {
	s, err := r.StatsAll(ctx, []string{ref}, interval)
	if err != nil {
		return nil, Usage{}, err
	}
	return s[0].Container, s[0].Usage, nil
}

// Sample is one container's usage over a StatsAll interval.
type Sample struct {
	Container *Container
	Usage     Usage
}

// StatsAll samples the cgroups of every container in refs over the same interval: all of them are
// read, then after interval all of them again, so n containers take one interval, not n, and their
// CPU figures cover the same time. CPU % is the cgroup's CPU time over the wall time between each
// container's two readings (100 % is one core, as in docker). A container that is not running has
// a zero Usage. The samples are in the order of refs; the first ref that names no container is the
// error.
func (r *Runtime) StatsAll(ctx context.Context, refs []string, interval time.Duration) ([]Sample, error) {
	type first struct {
		cpu uint64
		at  time.Time
		ok  bool
	}
	out := make([]Sample, len(refs))
	firsts := make([]first, len(refs))
	for i, ref := range refs {
		c, err := r.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		out[i].Container = c
		if c.State.Status != StatusRunning || c.State.Cgroup == nil {
			continue
		}
		st, err := c.State.Cgroup.Stats()
		if err != nil {
			continue // it stopped meanwhile: zeros, as for a stopped container
		}
		firsts[i] = first{st.CPUNanos, time.Now(), true}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(interval):
	}
	for i := range out {
		if !firsts[i].ok {
			continue
		}
		c := out[i].Container
		s2, err := c.State.Cgroup.Stats()
		if err != nil {
			continue
		}
		u := &out[i].Usage
		if d := time.Since(firsts[i].at); d > 0 && s2.CPUNanos >= firsts[i].cpu {
			u.CPUPercent = float64(s2.CPUNanos-firsts[i].cpu) / float64(d.Nanoseconds()) * 100
		}
		u.MemUsage, u.MemLimit, u.Pids = s2.MemoryUsage, s2.MemoryLimit, s2.Pids
		u.BlockRead, u.BlockWrite = s2.BlockRead, s2.BlockWrite
		if total := hostMemory(); u.MemLimit == 0 || u.MemLimit > total {
			u.MemLimit = total
		}
		u.NetRx, u.NetTx = netIO(c.State.Container.Pid)
	}
	return out, nil
}

// netIO sums the received and sent bytes of every interface but lo in pid's network namespace.
func netIO(pid int) (rx, tx uint64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		if f := strings.Fields(rest); len(f) >= 9 {
			r, _ := strconv.ParseUint(f[0], 10, 64)
			t, _ := strconv.ParseUint(f[8], 10, 64)
			rx += r
			tx += t
		}
	}
	return rx, tx
}

func hostMemory() uint64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, _ := strconv.ParseUint(f[1], 10, 64)
			return n * 1024
		}
	}
	return 0
}
