package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// EnterSpec describes a command run inside a running sandbox (docker exec).
type EnterSpec struct {
	Args []string
	Env  []string // the command's environment; HOME is added as for Spec.Env
	Cwd  string   // absolute, inside the sandbox; "" means "/"
	User string   // as Spec.User, resolved in the sandbox's /etc/passwd
	// Terminal: stdin is a pty slave (an *os.File) that becomes the
	// controlling terminal of the command.
	Terminal bool
	// Detach: the caller will not Wait; the command's stdio should not be
	// the caller's pipes.
	Detach bool
	// Security must be the sandbox's own (the Spec.Security it was started
	// with): the command gets the same capabilities, seccomp filter and
	// no_new_privs as the sandbox's PID 1.
	Security Security
	// JoinCgroup, when not nil, is called on the thread that will fork the
	// command, with its thread id, before the fork: it moves that thread into
	// the sandbox's cgroup where it can (cgroup v1: the command is then born
	// there) and says whether it did. When it did not (cgroup v2), Enter
	// calls AddToCgroup with the command's pid right after the fork.
	JoinCgroup  func(tid int) (joined bool, err error)
	AddToCgroup func(pid int) error
	// Alive, when not nil, tells whether pid is still the sandbox's PID 1
	// (not a process that reused its pid). Enter asks it after it opened
	// the namespaces: if pid is still the sandbox then, the namespaces
	// opened are the sandbox's, never another process's (the host's).
	Alive func() bool
}

// Enter runs spec.Args inside the running sandbox whose PID 1 has host pid
// pid, as runc exec does: in all of its namespaces (mount, pid, uts, ipc,
// network and cgroup), in its cgroup, with the capabilities, seccomp filter
// and no_new_privs its PID 1 got from spec.Security, as spec.User, and with
// no descriptor but its stdio. A process started by Enter is
// indistinguishable from one started by the sandbox's init.
//
// The namespaces are joined by a locked OS thread of the caller that first
// unshares its filesystem attributes (so it may join a mount namespace); the
// thread then forks the command and is discarded, so nothing else in the
// caller ever runs in the sandbox.
func Enter(ctx context.Context, pid int, spec EnterSpec, stdio IO) (*Process, error) {
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return nil, fmt.Errorf("%w: no command", ErrInvalidSpec)
	}
	sec, err := resolveSecurity(spec.Security)
	if err != nil {
		return nil, err
	}
	filter, err := seccompFor(spec.Security)
	if err != nil {
		return nil, err
	}
	root := "/proc/" + strconv.Itoa(pid) + "/root"
	u, err := user.GetExecUserPath(spec.User, &user.ExecUser{Home: "/"},
		inRoot(root, "/etc/passwd"), inRoot(root, "/etc/group"))
	if err != nil {
		return nil, &InitError{Msg: err.Error(), Cause: knownCause(err)}
	}
	env := spec.Env
	if !hasEnv(env, "HOME") {
		env = append(env[:len(env):len(env)], "HOME="+u.Home)
	}
	pathEnv, ok := envValue(env, "PATH")
	if !ok {
		pathEnv = defaultPath
	}
	argv0, err := lookPathIn(root, spec.Args[0], pathEnv)
	if err != nil {
		return nil, &InitError{Msg: err.Error(), Cause: knownCause(err)}
	}
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if fi, err := os.Stat(inRoot(root, cwd)); err != nil || !fi.IsDir() {
		return nil, &InitError{Msg: fmt.Sprintf("chdir to cwd (%q) set in config: no such directory", cwd)}
	}
	groups := []uint32{uint32(u.Gid)}
	for _, g := range u.Sgids {
		if g != u.Gid {
			groups = append(groups, uint32(g))
		}
	}
	nsfds, err := openNamespaces(pid)
	if err != nil {
		return nil, err
	}
	defer closeAll(nsfds)
	if spec.Alive != nil && !spec.Alive() {
		return nil, fmt.Errorf("exec in container: its process %d is gone", pid)
	}
	cmd := &exec.Cmd{
		Path:   argv0,
		Args:   spec.Args,
		Env:    env,
		Dir:    cwd,
		Stdin:  stdio.Stdin,
		Stdout: stdio.Stdout,
		Stderr: stdio.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: uint32(u.Uid), Gid: uint32(u.Gid), Groups: groups},
			Setsid:     spec.Terminal,
			Setctty:    spec.Terminal,
		},
	}
	// No parent-death signal: Go's fork checks getppid() against the
	// parent's pid, and in the container's pid namespace the parent is
	// invisible (getppid() is 0), so the child would kill itself at once.
	// Like docker exec's, the command outlives a killed client.
	started := make(chan error, 1)
	go func() {
		// This thread joins the sandbox and loses its privileges: it is
		// never unlocked, so the runtime discards it when the goroutine ends.
		runtime.LockOSThread()
		started <- enterAndStart(cmd, nsfds, spec, sec, filter)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("exec in container: %w", err)
	}
	// Cancelling ctx kills the command, unless it is detached: its caller returns (and its context
	// ends) right after starting it.
	stop := func() bool { return false }
	if !spec.Detach {
		stop = context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	}
	return &Process{pid: cmd.Process.Pid, ctx: ctx, cmd: cmd, stop: stop, cleanup: func() error { return nil }}, nil
}

// enterAndStart runs on a locked thread that is discarded afterwards: it
// joins the namespaces and cgroup, takes on the sandbox's restrictions in
// runc's order (bounding set, capabilities, no_new_privs, seccomp last) and
// forks the command, which inherits all of it.
func enterAndStart(cmd *exec.Cmd, nsfds []nsFd, spec EnterSpec, sec resolvedSecurity, filter *seccompFilter) error {
	joined := false
	if spec.JoinCgroup != nil {
		var err error
		if joined, err = spec.JoinCgroup(unix.Gettid()); err != nil {
			return fmt.Errorf("joining the container's cgroup: %w", err)
		}
	}
	// setns(CLONE_NEWNS) refuses a thread that shares its root and cwd
	// with other threads.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return &os.SyscallError{Syscall: "unshare(CLONE_FS)", Err: err}
	}
	for _, ns := range nsfds {
		if err := unix.Setns(ns.fd, ns.flag); err != nil {
			return fmt.Errorf("joining the container's %s namespace: %w", ns.name, &os.SyscallError{Syscall: "setns", Err: err})
		}
	}
	// The mount namespace's root and cwd are now the sandbox's "/".
	if err := dropBoundingSet(sec.caps); err != nil {
		return err
	}
	// Inheritable and ambient sets are emptied. The thread keeps its
	// effective set: the fork's setgroups/setgid/setuid need it. A root
	// command's exec then gets exactly the bounding set as permitted and
	// effective, like the init's command; setuid to any other user clears
	// them.
	if err := clearInheritable(); err != nil {
		return err
	}
	if spec.Security.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return &os.SyscallError{Syscall: "prctl(PR_SET_NO_NEW_PRIVS)", Err: err}
		}
	}
	// Last, with CAP_SYS_ADMIN still held (no_new_privs may be unset).
	if err := installSeccomp(filter); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	if !joined && spec.AddToCgroup != nil {
		if err := spec.AddToCgroup(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return fmt.Errorf("adding the command to the container's cgroup: %w", err)
		}
	}
	return nil
}

// nsFd is an open namespace file of the sandbox's PID 1.
type nsFd struct {
	name string
	flag int
	fd   int
}

// openNamespaces opens every namespace of pid that Enter joins, in the order
// it joins them: the mount namespace last, since /proc/<pid>/ns can only be
// opened from the host's view.
func openNamespaces(pid int) ([]nsFd, error) {
	var out []nsFd
	for _, ns := range []struct {
		name string
		flag int
	}{
		{"cgroup", unix.CLONE_NEWCGROUP}, {"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS},
		{"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}, {"mnt", unix.CLONE_NEWNS},
	} {
		p := fmt.Sprintf("/proc/%d/ns/%s", pid, ns.name)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("joining the container's %s namespace: %w", ns.name, &os.PathError{Op: "open", Path: p, Err: err})
		}
		out = append(out, nsFd{name: ns.name, flag: ns.flag, fd: fd})
	}
	return out, nil
}

func closeAll(fds []nsFd) {
	for _, ns := range fds {
		unix.Close(ns.fd)
	}
}

// inRoot resolves p (absolute, inside root) with symlinks scoped to root.
func inRoot(root, p string) string {
	r, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return filepath.Join(root, filepath.Clean("/"+p))
	}
	return r
}

// lookPathIn is lookPath for a rootfs at root; it returns the path inside it.
func lookPathIn(root, file, pathEnv string) (string, error) {
	if len(file) > 0 && (file[0] == '/' || filepath.Base(file) != file) {
		p := file
		if !path.IsAbs(p) {
			p = "/" + p
		}
		if err := checkExecutable(inRoot(root, p)); err != nil {
			return "", &exec.Error{Name: file, Err: err}
		}
		return file, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "/"
		}
		p := path.Join(dir, file)
		if checkExecutable(inRoot(root, p)) == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

func knownCause(err error) error {
	for _, k := range kindErrors() {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}
