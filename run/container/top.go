package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// TopResult is `top`'s table: ps's column titles and, per process of the container, its cells.
type TopResult struct {
	Titles    []string
	Processes [][]string
}

// TopPs runs the host's ps with psArgs (docker's default -ef when empty) and keeps the rows of the
// container's processes, as dockerd does: the PID column is found by its title, the last column
// takes the rest of the line.
func (r *Runtime) TopPs(ctx context.Context, ref string, psArgs []string) (*TopResult, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.State.Status != StatusRunning || c.State.Cgroup == nil {
		return nil, fmt.Errorf("%w: container %s is not running", ErrNotRunning, c.ID[:12])
	}
	var pids []int
	if len(c.State.Cgroup.Paths) == 0 {
		// No cgroup (rootless hoist where none can be created): the processes of PID 1's pid namespace.
		pids, err = pidNamespaceMembers(c.State.Container.Pid)
	} else {
		pids, err = c.State.Cgroup.Pids()
	}
	if err != nil {
		return nil, err
	}
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ps", psArgs...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ps: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return parsePs(out, pids)
}

// parsePs is dockerd's parsePSOutput.
func parsePs(out []byte, pids []int) (*TopResult, error) {
	lines := strings.Split(string(out), "\n")
	res := &TopResult{Titles: strings.Fields(lines[0])}
	pidIndex := slices.Index(res.Titles, "PID")
	if pidIndex < 0 {
		return nil, errors.New("couldn't find PID field in ps output")
	}
	n := len(res.Titles)
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) < n || pidIndex >= len(f) {
			continue
		}
		pid, err := strconv.Atoi(f[pidIndex])
		if err != nil {
			return nil, fmt.Errorf("unexpected pid %q: %w", f[pidIndex], err)
		}
		if slices.Contains(pids, pid) {
			row := append(slices.Clone(f[:n-1]), strings.Join(f[n-1:], " "))
			res.Processes = append(res.Processes, row)
		}
	}
	return res, nil
}

// pidNamespaceMembers lists the host pids of the processes in the pid namespace of pid.
func pidNamespaceMembers(pid int) ([]int, error) {
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return nil, fmt.Errorf("reading the container's pid namespace: %w", err)
	}
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, d := range dirs {
		if l, err := os.Readlink(d + "/ns/pid"); err == nil && l == ns {
			if p, err := strconv.Atoi(filepath.Base(d)); err == nil {
				pids = append(pids, p)
			}
		}
	}
	return pids, nil
}
