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
	// Prestart, when not nil, is called with the command's host pid right
	// after it started (to put it into the sandbox's cgroup).
	Prestart func(pid int) error
}

// Enter runs spec.Args inside the running sandbox whose PID 1 has host pid
// pid: in its pid, uts, ipc and network namespaces, with its root directory
// (/proc/<pid>/root, which shows the sandbox's own mounts), docker's
// capability set for root and none for other users.
//
// Go cannot join a mount namespace (setns(CLONE_NEWNS) needs a
// single-threaded process), so the command shares the caller's mount
// namespace but sees only the sandbox's tree; it has no CAP_SYS_ADMIN to
// change mounts anyway.
func Enter(ctx context.Context, pid int, spec EnterSpec, stdio IO) (*Process, error) {
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return nil, fmt.Errorf("%w: no command", ErrInvalidSpec)
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
	cmd := &exec.Cmd{
		Path:   argv0,
		Args:   spec.Args,
		Env:    env,
		Dir:    cwd,
		Stdin:  stdio.Stdin,
		Stdout: stdio.Stdout,
		Stderr: stdio.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Chroot:     root,
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
		// This thread joins the sandbox's namespaces and loses capabilities:
		// it is never unlocked, so the runtime discards it when the
		// goroutine ends.
		runtime.LockOSThread()
		if err := joinNamespaces(pid); err != nil {
			started <- err
			return
		}
		if err := dropBoundingSet(); err != nil {
			started <- err
			return
		}
		started <- cmd.Start()
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("exec in container: %w", err)
	}
	if spec.Prestart != nil {
		if err := spec.Prestart(cmd.Process.Pid); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return nil, err
		}
	}
	// Cancelling ctx kills the command, unless it is detached: its caller returns (and its context
	// ends) right after starting it.
	stop := func() bool { return false }
	if !spec.Detach {
		stop = context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	}
	return &Process{pid: cmd.Process.Pid, ctx: ctx, cmd: cmd, stop: stop, cleanup: func() error { return nil }}, nil
}

// joinNamespaces moves the calling thread into the pid (for its children),
// uts, ipc and network namespaces of pid.
func joinNamespaces(pid int) error {
	for _, ns := range []struct {
		name string
		flag int
	}{{"ipc", unix.CLONE_NEWIPC}, {"uts", unix.CLONE_NEWUTS}, {"net", unix.CLONE_NEWNET}, {"pid", unix.CLONE_NEWPID}} {
		p := fmt.Sprintf("/proc/%d/ns/%s", pid, ns.name)
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("joining the container's %s namespace: %w", ns.name, &os.PathError{Op: "open", Path: p, Err: err})
		}
		err = unix.Setns(fd, ns.flag)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("joining the container's %s namespace: %w", ns.name, &os.SyscallError{Syscall: "setns", Err: err})
		}
	}
	return nil
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
