package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// JoinThread prepares the calling thread tid to fork a process that starts
// inside c (docker exec), so the process never runs outside it. On cgroup v1
// it moves that one thread into c in every hierarchy (the thread's later
// children are born there) and returns -1. On cgroup v2, where a thread
// cannot leave its process's cgroup, it returns an open descriptor of c's
// directory for clone3's CLONE_INTO_CGROUP (syscall.SysProcAttr.CgroupFD);
// the caller closes it. The thread should be one that is discarded after
// the fork.
func (c *Cgroup) JoinThread(tid int) (int, error) {
	if c.V2 {
		dir := c.Paths[""]
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: dir, Err: err}
		}
		return fd, nil
	}
	done := map[string]bool{}
	for _, dir := range c.Paths {
		if done[dir] {
			continue
		}
		done[dir] = true
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte(strconv.Itoa(tid)), 0); err != nil {
			return -1, fmt.Errorf("moving thread %d into cgroup %s: %w", tid, dir, err)
		}
	}
	return -1, nil
}
