package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// JoinThread prepares the calling thread tid to fork a process that starts
// inside c (docker exec), so the process never runs outside it. On cgroup v1
// it moves that one thread into c in every hierarchy (the thread's later
// children are born there) and reports true. On cgroup v2 a thread cannot
// leave its process's cgroup, and clone3's CLONE_INTO_CGROUP is out of reach
// once the sandbox's seccomp filter (which answers clone3 with ENOSYS, as
// docker's does) is installed on the forking thread: it reports false and
// the caller must Add the process right after the fork. The thread should
// be one that is discarded after the fork.
func (c *Cgroup) JoinThread(tid int) (bool, error) {
	if c.V2 {
		return false, nil
	}
	done := map[string]bool{}
	for _, dir := range c.Paths {
		if done[dir] {
			continue
		}
		done[dir] = true
		if err := os.WriteFile(filepath.Join(dir, "tasks"), []byte(strconv.Itoa(tid)), 0); err != nil {
			return false, fmt.Errorf("moving thread %d into cgroup %s: %w", tid, dir, err)
		}
	}
	return true, nil
}
