package container

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Process is one process of a running container, for top.
type Process struct {
	UID, PID, PPID int
	Cmd            string
}

// Top lists the processes in the container's cgroup.
func (r *Runtime) Top(ctx context.Context, ref string) ([]Process, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.State.Status != StatusRunning || c.State.Cgroup == nil {
		return nil, fmt.Errorf("%w: container %s is not running", ErrNotRunning, c.ID[:12])
	}
	pids, err := c.State.Cgroup.Pids()
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, pid := range pids {
		p := Process{PID: pid}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
			for _, line := range strings.Split(string(st), "\n") {
				f := strings.Fields(line)
				if len(f) >= 2 && f[0] == "Uid:" {
					p.UID, _ = strconv.Atoi(f[1])
				}
				if len(f) >= 2 && f[0] == "PPid:" {
					p.PPID, _ = strconv.Atoi(f[1])
				}
			}
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue // exited meanwhile
		}
		p.Cmd = strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " "))
		out = append(out, p)
	}
	return out, nil
}

// Usage is one stats sample of a container.
type Usage struct {
	CPUPercent            float64
	MemUsage, MemLimit    uint64
	NetRx, NetTx          uint64
	BlockRead, BlockWrite uint64
	Pids                  uint64
}

// Stats samples the container's cgroup over interval.
func (r *Runtime) Stats(ctx context.Context, ref string, interval time.Duration) (*Container, Usage, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return nil, Usage{}, err
	}
	var u Usage
	if c.State.Status != StatusRunning || c.State.Cgroup == nil {
		return c, u, nil
	}
	s1, err := c.State.Cgroup.Stats()
	if err != nil {
		return c, u, err
	}
	t1 := time.Now()
	select {
	case <-ctx.Done():
		return c, u, ctx.Err()
	case <-time.After(interval):
	}
	s2, err := c.State.Cgroup.Stats()
	if err != nil {
		return c, u, err
	}
	if d := time.Since(t1); d > 0 && s2.CPUNanos >= s1.CPUNanos {
		u.CPUPercent = float64(s2.CPUNanos-s1.CPUNanos) / float64(d.Nanoseconds()) * 100
	}
	u.MemUsage, u.MemLimit, u.Pids = s2.MemoryUsage, s2.MemoryLimit, s2.Pids
	u.BlockRead, u.BlockWrite = s2.BlockRead, s2.BlockWrite
	if total := hostMemory(); u.MemLimit == 0 || u.MemLimit > total {
		u.MemLimit = total
	}
	if data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", c.State.Container.Pid)); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			name, rest, ok := strings.Cut(line, ":")
			if !ok || strings.TrimSpace(name) == "lo" {
				continue
			}
			f := strings.Fields(rest)
			if len(f) >= 9 {
				rx, _ := strconv.ParseUint(f[0], 10, 64)
				tx, _ := strconv.ParseUint(f[8], 10, 64)
				u.NetRx += rx
				u.NetTx += tx
			}
		}
	}
	return c, u, nil
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
