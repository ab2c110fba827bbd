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
	"sync"
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
	p, err := Start(ctx, spec, stdio)
	if err != nil {
		return -1, err
	}
	if p.console == nil {
		return p.Wait()
	}
	// Spec.Terminal: the pty master carries stdin and the output.
	defer p.console.Close()
	if stdio.Stdin != nil {
		go func() { _, _ = io.Copy(p.console, stdio.Stdin) }()
	}
	out := stdio.Stdout
	if out == nil {
		out = io.Discard
	}
	copied := make(chan struct{})
	go func() {
		// Ends with EIO once the last holder of the slave is gone.
		_, _ = io.Copy(out, p.console)
		close(copied)
	}()
	code, err = p.Wait()
	<-copied
	return code, err
}

// Process is a sandbox started by [Start]. Its methods are safe for
// concurrent use; Wait must be called exactly once.
type Process struct {
	pid     int
	ctx     context.Context
	cmd     *exec.Cmd
	stop    func() bool
	cleanup func() error
	console *os.File
}

// Console returns the master of the command's pty with [Spec.Terminal], nil
// otherwise. The caller owns it: it reads the command's output from it until
// a read fails (EIO once the command and everything holding the slave are
// gone), writes input to it, sets its window size, and closes it.
func (p *Process) Console() *os.File { return p.console }

// Pid is the host pid of the sandbox's PID 1 (the command).
func (p *Process) Pid() int { return p.pid }

// Signal sends sig to the command. As PID 1 of its namespace it receives
// only the signals it handles, and SIGKILL.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits for the command to exit and returns its exit code, as [Run]
// does, then removes what Start created (mount point stubs, temp dir).
func (p *Process) Wait() (code int, err error) {
	defer func() {
		if cerr := p.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	waitErr := p.cmd.Wait()
	killed := !p.stop()
	code = exitCode(p.cmd.ProcessState)
	if killed && code == 128+int(syscall.SIGKILL) {
		return code, p.ctx.Err()
	}
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		// The command ran; copying its I/O failed.
		return code, fmt.Errorf("sandbox i/o: %w", waitErr)
	}
	return code, nil
}

// Start starts spec.Args as [Run] does and returns once the command runs
// (its init exec'd it), or with the error that kept it from running, in
// which case nothing is left behind. Cancelling ctx kills the sandbox.
// With spec.Terminal, stdio is ignored and the command's terminal is
// [Process.Console].
func Start(ctx context.Context, spec Spec, stdio IO) (p *Process, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := newInitConfig(spec)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(spec.StateDir, "hoist-run-")
	if err != nil {
		return nil, fmt.Errorf("creating sandbox temp dir: %w", err)
	}
	var st stubs
	cleanup := func() error {
		var errs []error
		if err := st.remove(); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(tmp); err != nil {
			errs = append(errs, fmt.Errorf("removing sandbox temp dir: %w", err))
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			_ = cleanup()
		}
	}()
	if err := prepareMounts(cfg, tmp, &st); err != nil {
		return nil, err
	}
	if err := st.seal(); err != nil {
		return nil, err
	}
	cfg.WaitNetwork = spec.AttachNetwork != nil
	p, err = start(ctx, cfg, stdio, spec.Prestart, spec.AttachNetwork)
	if err != nil {
		return nil, err
	}
	p.cleanup = cleanup
	return p, nil
}

// start runs the child and returns once it exec'd the command.
func start(ctx context.Context, cfg *initConfig, stdio IO, prestart, attachNet func(int) error) (*Process, error) {
	// Every end is closed on return; the child's ends also right after Start
	// (closing twice is harmless), so that EOF on errR means the child exec'd.
	specR, specW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating spec pipe: %w", err)
	}
	defer specR.Close()
	defer specW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating error pipe: %w", err)
	}
	defer errR.Close()
	defer errW.Close()

	extra := []*os.File{specR, errW} // fds 3 and 4
	var consoleSock *os.File         // our end of the console socket
	if cfg.Terminal {
		stdio = IO{}
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("creating console socket: %w", &os.SyscallError{Syscall: "socketpair", Err: err})
		}
		consoleSock = os.NewFile(uintptr(fds[0]), "console")
		defer consoleSock.Close()
		child := os.NewFile(uintptr(fds[1]), "console-child")
		defer child.Close()
		extra = append(extra, child) // fd 5
	}
	stdin, stopStdin, err := stdinFile(stdio.Stdin)
	if err != nil {
		return nil, err
	}

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
		ExtraFiles: extra,
		SysProcAttr: &syscall.SysProcAttr{
			Cloneflags: flags,
			// Pdeathsig fires when the thread that forked exits; a thread
			// that is unlocked again goes back to the runtime's pool and
			// lives as long as the process.
			Pdeathsig: syscall.SIGKILL,
			// With a terminal the child makes the pty its controlling
			// terminal itself (setupConsole).
			Setsid: cfg.Terminal,
		},
	}
	release, err := startLocked(cmd)
	for _, f := range extra {
		f.Close() // the child's ends: it has them now
	}
	if f, ok := stdin.(*os.File); ok && f != stdio.Stdin {
		f.Close() // our pipe's read end: the child has it now
	}
	if err != nil {
		stopStdin()
		return nil, fmt.Errorf("starting sandbox init: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	fail := func(err error) (*Process, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		release()
		stop()
		stopStdin()
		return nil, err
	}
	if prestart != nil {
		if err := prestart(cmd.Process.Pid); err != nil {
			return fail(err)
		}
	}
	// A write error means the child died early; the error pipe says why.
	enc := json.NewEncoder(specW)
	werr := enc.Encode(cfg)
	if werr == nil && attachNet != nil {
		// The child mounts its filesystem meanwhile; it waits for netReady before it
		// configures the interface, and reads EOF (an error) if we stop here.
		if err := attachNet(cmd.Process.Pid); err != nil {
			specW.Close()
			return fail(err)
		}
		werr = enc.Encode(netReady{Ready: true})
	}
	specW.Close()
	if ierr := readInitError(errR); ierr != nil {
		return fail(ierr)
	}
	if werr != nil {
		return fail(fmt.Errorf("sending spec to sandbox init: %w", werr))
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	var console *os.File
	if consoleSock != nil {
		if console, err = receiveConsole(consoleSock); err != nil {
			return fail(err)
		}
	}
	return &Process{pid: cmd.Process.Pid, ctx: ctx, cmd: cmd, console: console, stop: func() bool {
		release()
		stopStdin()
		return stop()
	}}, nil
}

// startLocked starts cmd from an OS thread that stays locked to a goroutine of its own until
// release is called (after cmd was waited for). Pdeathsig fires when the thread that forked exits,
// and a goroutine that ends while locked takes its thread with it (as Enter's goroutines do, on
// purpose): a pool thread that forked a sandbox could be taken by such a goroutine and kill the
// sandbox with it. A thread held here runs nothing else.
func startLocked(cmd *exec.Cmd) (release func(), err error) {
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		started <- cmd.Start()
		<-done
		runtime.UnlockOSThread()
	}()
	var once sync.Once
	release = func() { once.Do(func() { close(done) }) }
	if err = <-started; err != nil {
		release()
	}
	return release, err
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
	if err := spec.DNS.Check(); err != nil {
		return nil, fmt.Errorf("%w: dns: %w", ErrInvalidSpec, err)
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = DefaultHostname
	}
	if spec.Interface != nil && spec.Network != NetworkPrivate {
		return nil, fmt.Errorf("%w: an interface needs network mode %q", ErrInvalidSpec, NetworkPrivate)
	}
	mounts, rootSlave, err := parseMounts(spec.Mounts)
	if err != nil {
		return nil, err
	}
	var newNet bool
	switch spec.Network {
	case "", NetworkHost:
	case NetworkNone, NetworkPrivate:
		newNet = true
	default:
		return nil, fmt.Errorf("%w: unknown network mode %q", ErrInvalidSpec, spec.Network)
	}
	sec, err := resolveSecurity(spec.Security)
	if err != nil {
		return nil, err
	}
	filter, err := seccompFor(spec.Security)
	if err != nil {
		return nil, err
	}
	if spec.ShmSize < 0 {
		return nil, fmt.Errorf("%w: negative shm size", ErrInvalidSpec)
	}
	rlimits, err := resolveRlimits(spec.Rlimits)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	return &initConfig{
		Init:            spec.Init,
		Seccomp:         filter,
		Privileged:      spec.Security.Privileged,
		Caps:            sec.caps,
		NoNewPrivileges: spec.Security.NoNewPrivileges,
		MaskedPaths:     sec.masked,
		ReadonlyPaths:   sec.readonly,
		Devices:         sec.devices,
		Rootfs:          rootfs,
		Args:            spec.Args,
		Env:             spec.Env,
		Cwd:             cwd,
		User:            spec.User,
		Hostname:        hostname,
		NewNet:          newNet,
		ReadOnlyRootfs:  spec.ReadOnlyRootfs,
		Overlay:         spec.Overlay,
		Terminal:        spec.Terminal,
		ConsoleSize:     spec.ConsoleSize,
		Interface:       spec.Interface,
		ShmSize:         spec.ShmSize,
		Rlimits:         rlimits,
		KeepResolv:      spec.Network == NetworkPrivate,
		extraHosts:      spec.ExtraHosts,
		dns:             spec.DNS,
		userMounts:      mounts,
		RootSlave:       rootSlave,
	}, nil
}
