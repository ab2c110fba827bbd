package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Run runs spec.Args in new mount, pid, uts and ipc namespaces (and a new
// network namespace when spec.Network is NetworkNone) rooted at spec.Rootfs,
// and returns the command's exit code: its exit status, or 128+N when it was
// killed by signal N.
//
// err is nil whenever the command ran, whatever its exit code. It is not nil
// when the sandbox itself failed: an invalid Spec (wrapping ErrInvalidSpec),
// a setup failure in the parent, or an *InitError from the child (a setup
// step, an unknown user, a missing cwd, an executable not found), in which
// case the exit code is -1. When ctx is cancelled Run kills the whole sandbox
// and returns the exit code (137 when the kill took effect) with ctx.Err().
//
// The command is PID 1 of its pid namespace: when it exits, everything it
// started is killed. Run returns only after the sandbox is reaped and its
// output copied; it leaves no mounts in the caller's namespace, no temporary
// files and no processes, and the rootfs is left as found except for what
// the command changed (see Spec.Rootfs).
//
// Run must be called as root, from a program whose main calls MaybeInit
// first. Concurrent Runs are safe on different rootfs directories; two
// concurrent Runs on the same rootfs race on the mount points they create.
func Run(ctx context.Context, spec Spec, stdio IO) (code int, err error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	cfg, err := newInitConfig(spec)
	if err != nil {
		return -1, err
	}
	tmp, err := os.MkdirTemp(spec.StateDir, "hoist-run-")
	if err != nil {
		return -1, fmt.Errorf("creating sandbox temp dir: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil && err == nil {
			err = fmt.Errorf("removing sandbox temp dir: %w", rerr)
		}
	}()
	var st stubs
	defer func() {
		if rerr := st.remove(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := prepareMounts(cfg, tmp, &st); err != nil {
		return -1, err
	}
	if err := st.seal(); err != nil {
		return -1, err
	}
	return start(ctx, cfg, stdio)
}

// start runs the child and waits for it.
func start(ctx context.Context, cfg *initConfig, stdio IO) (int, error) {
	// Every end is closed on return; the child's ends also right after Start
	// (closing twice is harmless), so that EOF on errR means the child exec'd.
	specR, specW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("creating spec pipe: %w", err)
	}
	defer specR.Close()
	defer specW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return -1, fmt.Errorf("creating error pipe: %w", err)
	}
	defer errR.Close()
	defer errW.Close()

	stdin, stopStdin, err := stdinFile(stdio.Stdin)
	if err != nil {
		return -1, err
	}
	defer stopStdin()

	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if cfg.NewNet {
		flags |= unix.CLONE_NEWNET
	}
	cmd := &exec.Cmd{
		Path:       "/proc/self/exe",
		Args:       []string{os.Args[0], InitArg},
		Env:        []string{},
		Stdin:      stdin,
		Stdout:     stdio.Stdout,
		Stderr:     stdio.Stderr,
		ExtraFiles: []*os.File{specR, errW}, // fds 3 and 4
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			// Pdeathsig fires when the thread that forked exits, so this
			// goroutine keeps its thread until the child is reaped.
			Pdeathsig: syscall.SIGKILL,
		},
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	specR.Close()
	errW.Close()
	if f, ok := stdin.(*os.File); ok && f != stdio.Stdin {
		f.Close() // our pipe's read end: the child has it now
	}
	if err != nil {
		return -1, fmt.Errorf("starting sandbox init: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })

	// A write error means the child died early; the error pipe says why.
	werr := json.NewEncoder(specW).Encode(cfg)
	specW.Close()
	ierr := readInitError(errR)
	waitErr := cmd.Wait()
	killed := !stop()

	code := -1
	if ps := cmd.ProcessState; ps != nil {
		code = exitCode(ps)
	}
	switch {
	case killed && code == 128+int(syscall.SIGKILL):
		return code, ctx.Err()
	case ierr != nil:
		return -1, ierr
	case werr != nil:
		return -1, fmt.Errorf("sending spec to sandbox init: %w", werr)
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		// The command ran; copying its I/O failed.
		return code, fmt.Errorf("sandbox i/o: %w", waitErr)
	}
	return code, nil
}

// stdinFile returns what the child's stdin should be. An *os.File (or nil)
// is passed as is. Any other reader is copied into a pipe by a goroutine that
// Run does not wait for: unlike exec.Cmd, Run must not block until a reader
// that may never end (a terminal, a network stream) reaches EOF. stop closes
// the pipe; the goroutine then ends at its next write, so a reader blocked in
// Read keeps it alive until that Read returns.
func stdinFile(r io.Reader) (io.Reader, func(), error) {
	if r == nil {
		return nil, func() {}, nil
	}
	if f, ok := r.(*os.File); ok {
		return f, func() {}, nil
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("creating stdin pipe: %w", err)
	}
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return pr, func() { pw.Close() }, nil
}

// exitCode maps a wait status to a shell-style exit code.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// newInitConfig validates spec and fills the parts of initConfig that need
// no filesystem changes.
func newInitConfig(spec Spec) (*initConfig, error) {
	if len(spec.Args) == 0 || spec.Args[0] == "" {
		return nil, fmt.Errorf("%w: no command", ErrInvalidSpec)
	}
	if spec.Rootfs == "" {
		return nil, fmt.Errorf("%w: no rootfs", ErrInvalidSpec)
	}
	rootfs, err := filepath.Abs(spec.Rootfs)
	if err != nil {
		return nil, fmt.Errorf("%w: rootfs: %w", ErrInvalidSpec, err)
	}
	if rootfs, err = filepath.EvalSymlinks(rootfs); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	if fi, err := os.Stat(rootfs); err != nil {
		return nil, fmt.Errorf("rootfs: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("%w: rootfs %s is not a directory", ErrInvalidSpec, rootfs)
	}
	cwd := spec.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !filepath.IsAbs(cwd) {
		return nil, fmt.Errorf("%w: cwd %q is not absolute", ErrInvalidSpec, cwd)
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	mounts := make([]initMount, 0, len(spec.Mounts))
	for _, m := range spec.Mounts {
		im, err := parseMount(m)
		if err != nil {
			return nil, err
		}
		mounts = append(mounts, im)
	}
	var newNet bool
	switch spec.Network {
	case "", NetworkHost:
	case NetworkNone:
		newNet = true
	default:
		return nil, fmt.Errorf("%w: unknown network mode %q", ErrInvalidSpec, spec.Network)
	}
	return &initConfig{
		Rootfs:         rootfs,
		Args:           spec.Args,
		Env:            spec.Env,
		Cwd:            cwd,
		User:           spec.User,
		Hostname:       hostname,
		NewNet:         newNet,
		ReadOnlyRootfs: spec.ReadOnlyRootfs,
		userMounts:     mounts,
	}, nil
}
