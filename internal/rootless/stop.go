package rootless

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Running reports whether this user's rootless server runs: its socket accepts connections (a
// server that is stopping no longer does, though its process may not be reaped yet).
func Running() bool {
	c, err := dial(filepath.Join(RuntimeDir(), "rootless.sock"))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// serverPid is the pid in the runtime directory's pid file when that process is alive, else 0.
func serverPid() int {
	b, err := os.ReadFile(filepath.Join(RuntimeDir(), "rootless.pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// ErrBusy is wrapped by Stop's error when processes other than the server live in its namespaces.
var ErrBusy = errors.New("the rootless namespaces are in use")

// Stop ends the rootless server this command runs under (and with it the port helper and pasta);
// only inside the namespaces ([Active]). Other processes in the user namespace (detached
// containers, other hoist commands) make it fail with ErrBusy naming how many, unless force, which
// kills them first. The server exits once this command has returned its status. It returns the
// server's pid.
func Stop(force bool) (int, error) {
	if !Active() {
		return 0, errors.New("not inside the rootless namespaces")
	}
	server := os.Getppid()
	if pid := serverPid(); pid != server {
		return 0, fmt.Errorf("the rootless server's pid file names %d, but this command's parent is %d", pid, server)
	}
	others := othersInUsernsExcept(os.Getpid(), server)
	if len(others) > 0 && !force {
		return 0, fmt.Errorf("%w: %d processes still run there (detached containers or other hoist commands); "+
			"stop them first (hoist ps, hoist stop) or use --force to kill them", ErrBusy, len(others))
	}
	for _, p := range others {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for deadline := time.Now().Add(10 * time.Second); len(othersInUsernsExcept(os.Getpid(), server)) > 0; {
		if time.Now().After(deadline) {
			return 0, errors.New("processes of the rootless namespaces did not end after SIGKILL")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(server, syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("stopping the rootless server %d: %w", server, err)
	}
	return server, nil
}

// othersInUsernsExcept lists the processes in this process's user namespace but those given and
// pasta, which joins the namespace to serve it (see isPasta).
func othersInUsernsExcept(except ...int) []int {
	self, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		return nil
	}
	pids, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
next:
	for _, p := range pids {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		for _, e := range except {
			if pid == e {
				continue next
			}
		}
		if ns, err := os.Readlink(p + "/ns/user"); err == nil && ns == self && !isPasta(pid, self) {
			out = append(out, pid)
		}
	}
	return out
}

// isPasta reports whether pid is the pasta the port helper started: a process named pasta whose
// parent (the helper) is outside the user namespace userns.
func isPasta(pid int, userns string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ppid ...
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return false
	}
	comm, rest := s[open+1:end], strings.Fields(s[end+1:])
	if !strings.HasPrefix(comm, "pasta") || len(rest) < 2 {
		return false
	}
	ns, err := os.Readlink("/proc/" + rest[1] + "/ns/user")
	return err != nil || ns != userns
}
