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
	if c.Config.Tty && stdio.Terminal != nil {
		defer followContainerSize(stdio.Terminal, c.State.Container.Pid)()
	}
	if stdio.ProxySignals {
		defer proxySignalsTo(c.State.Container.Pid)()
	}
	out, errw := stdio.Out, stdio.Err
	if out == nil {
		out = io.Discard
	}
	if errw == nil {
		errw = io.Discard
	}
	if err := r.logs(ctx, c, LogOptions{Follow: true, Tail: 0}, out, errw, sendInput); err != nil {
		return -1, err
	}
	select {
	case <-detached:
		return -1, ErrDetached
	default:
	}
	return r.waitStopped(ctx, c.ID)
}

// followContainerSize gives the container's pty (the stdin of its first process, reopened through
// /proc) the terminal's size now and on every SIGWINCH until the returned stop is called.
func followContainerSize(term *os.File, pid int) func() {
	slave, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/0", pid), os.O_RDWR|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if err != nil {
		return func() {}
	}
	if _, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS); err != nil {
		slave.Close() // not a terminal: nothing to size
		return func() {}
	}
	_ = pty.InheritSize(term, slave)
	stop := followSize(term, slave)
	return func() { stop(); slave.Close() }
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
