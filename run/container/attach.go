package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// Attach connects stdio to the running detached container ref: its output
// from now on (read from its log), and stdin into the container's stdin when
// it was created with -i. Input is sent only once the log reader is at the
// log's end, so the output it causes is never missed. It returns the
// container's exit code once it stops, or ErrDetached when the input held
// stdio.DetachKeys (the container goes on). For a -t container, a
// stdio.Terminal's size is given to the container's pty and kept in sync;
// stdio.ProxySignals forwards the usual signals to the container.
func (r *Runtime) Attach(ctx context.Context, ref string, stdio Stdio) (int, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return -1, err
	}
	if !c.State.Running() {
		return -1, fmt.Errorf("%w: you cannot attach to a stopped container, start it first", ErrNotRunning)
	}
	return r.attach(ctx, c, stdio, 0)
}

// RunDetachable is `docker run -it`: it starts the created container ref under its monitor, so
// that it outlives this process, and attaches stdio to it as Attach does, from its first output.
// It returns the container's exit code once it exits (an --rm container is removed only after
// that code was read), or ErrDetached when the input held stdio.DetachKeys: the container goes on,
// and `attach` reattaches.
func (r *Runtime) RunDetachable(ctx context.Context, ref string, stdio Stdio) (int, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return -1, err
	}
	if c.State.Running() {
		return -1, fmt.Errorf("%w: %s", ErrRunning, c.ID[:12])
	}
	release, err := r.holdExit(ctx, c.ID)
	if err != nil {
		return -1, err
	}
	defer release()
	if err := r.Start(ctx, c.ID); err != nil {
		if c.Config.AutoRemove {
			_ = r.remove(context.WithoutCancel(ctx), c.ID, true)
		}
		return -1, err
	}
	if c, err = r.read(c.ID); err != nil {
		return -1, err
	}
	return r.attach(ctx, c, stdio, -1)
}

// attach is Attach for c, from the last tail lines of its log (-1: all).
func (r *Runtime) attach(ctx context.Context, c *Container, stdio Stdio, tail int) (int, error) {
	if c.Config.Log.Driver == LogNone {
		// A detached container's output reaches attach only through its json log.
		return -1, fmt.Errorf("%w: hoist attaches through the container's log, which --log-driver none does not keep", ErrLogNotReadable)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	detached := make(chan struct{})
	sendInput := func() {}
	if stdio.In != nil && c.Config.OpenStdin {
		f, err := os.OpenFile(filepath.Join(r.Dir(c.ID), "stdin"), os.O_WRONLY, 0)
		if err != nil {
			return -1, fmt.Errorf("attaching stdin: %w", err)
		}
		defer f.Close()
		in := newDetachReader(stdio.In, stdio.DetachKeys)
		sendInput = func() {
			go func() {
				if _, err := io.Copy(f, in); errors.Is(err, ErrDetached) {
					close(detached)
					cancel()
				}
			}()
		}
	}
	if c.Config.Tty && stdio.Terminal != nil && c.State.Container.Pid > 0 {
		defer followContainerSize(stdio.Terminal, c.State.Container.Pid)()
	}
	if stdio.ProxySignals && c.State.Container.Pid > 0 {
		defer proxySignalsTo(c.State.Container.Pid)()
	}
	out, errw := stdio.Out, stdio.Err
	if out == nil {
		out = io.Discard
	}
	if errw == nil {
		errw = io.Discard
	}
	if err := r.logs(ctx, c, LogOptions{Follow: true, Tail: tail}, out, errw, sendInput); err != nil {
		return -1, err
	}
	select {
	case <-detached:
		return -1, ErrDetached
	default:
	}
	return r.waitStopped(ctx, c.ID)
}

// holdExit takes a shared lock that keeps the monitor of an --rm container from removing it
// (monitorRemove takes it exclusively) until release: the holder reads the exit code first.
func (r *Runtime) holdExit(ctx context.Context, id string) (release func(), err error) {
	return flockMode(ctx, filepath.Join(r.Dir(id), ".exit.lock"), unix.LOCK_SH)
}

// followContainerSize gives the container's pty (the stdin of its first process, reopened through
// /proc) the terminal's size now and on every SIGWINCH until the returned stop is called. The pty
// is open only while it is resized: a slave held open would keep the monitor from ever seeing the
// pty hang up when the container exits.
func followContainerSize(term *os.File, pid int) func() {
	resize := func() {
		slave, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/0", pid), os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
		if err != nil {
			return
		}
		defer slave.Close()
		if _, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err == nil {
			_ = pty.InheritSize(term, slave)
		}
	}
	resize()
	return onWinch(resize)
}

// proxySignalsTo forwards the usual signals to pid until stopped (docker attach --sig-proxy).
func proxySignalsTo(pid int) func() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				_ = unix.Kill(pid, s.(unix.Signal))
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
