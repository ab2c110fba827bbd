package container

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// reconcile loads container id and, when its state says running but the
// process waiting for it is gone (a killed monitor or foreground hoist),
// records it as exited and removes what that process would have removed.
func (r *Runtime) reconcile(ctx context.Context, id string) (*Container, error) {
	c, err := r.read(id)
	if err != nil || !c.State.Running() || alive(c.State.Monitor) {
		return c, err
	}
	return r.update(ctx, id, func(c *Container) error {
		if !c.State.Running() || alive(c.State.Monitor) {
			return nil
		}
		if alive(c.State.Container) {
			_ = unix.Kill(c.State.Container.Pid, unix.SIGKILL)
		}
		if c.State.Cgroup != nil {
			_ = c.State.Cgroup.Destroy()
		}
		c.State.Status = StatusExited
		c.State.ExitCode = 128 + int(unix.SIGKILL)
		c.State.Error = "the process supervising the container died"
		c.State.FinishedAt = time.Now().UTC()
		c.State.Container, c.State.Monitor, c.State.Cgroup, c.State.Ports = Identity{}, Identity{}, nil, nil
		c.State.IPAddress, c.State.Gateway = "", ""
		return nil
	})
}

// RunAttached starts the created or stopped container ref in this process,
// attached to stdio, and returns its exit code once it exits. The restart
// policy does not apply (docker applies it after the client detached). A
// failure to start is a *StartError.
func (r *Runtime) RunAttached(ctx context.Context, ref string, stdio Stdio) (int, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return -1, err
	}
	if c.State.Running() {
		return -1, fmt.Errorf("%w: %s", ErrRunning, c.ID[:12])
	}
	// Signals are forwarded to the container, not used to cancel the run.
	code, err := r.attempt(context.WithoutCancel(ctx), c, stdio, nil)
	if c.Config.AutoRemove {
		if rerr := r.remove(context.WithoutCancel(ctx), c.ID, true); rerr != nil && err == nil {
			err = rerr
		}
	}
	return code, err
}

// StopOptions are stop's and restart's -t and -s.
type StopOptions struct {
	// Timeout is how long to wait before SIGKILL, in seconds (< 0: forever); nil: the
	// container's --stop-timeout, else 10 s.
	Timeout *int
	// Signal replaces the container's stop signal ("" keeps it).
	Signal string
}

// Stop sends the stop signal, waits up to the timeout and then SIGKILLs.
// Stopping a stopped container does nothing (but a bad signal is an error).
// The restart policy no longer applies.
func (r *Runtime) Stop(ctx context.Context, ref string, o StopOptions) error {
	var sig syscall.Signal
	if o.Signal != "" {
		s, err := ParseSignal(o.Signal)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrBadOption, err)
		}
		sig = s
	}
	c, err := r.Get(ctx, ref)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return nil
	}
	c, err = r.update(ctx, c.ID, func(c *Container) error { c.State.StopRequested = true; return nil })
	if err != nil {
		return err
	}
	if sig == 0 {
		if sig, err = ParseSignal(c.Config.StopSignal); err != nil {
			sig = syscall.SIGTERM
		}
	}
	t := 10
	if c.Config.StopTimeout >= 0 {
		t = c.Config.StopTimeout
	}
	if o.Timeout != nil {
		t = *o.Timeout
	}
	target := c.State.Container
	if alive(target) {
		_ = unix.Kill(target.Pid, sig)
		if t < 0 || !waitExit(ctx, target, time.Duration(t)*time.Second) {
			if alive(target) {
				_ = unix.Kill(target.Pid, unix.SIGKILL)
			}
		}
	}
	_, err = r.waitStopped(ctx, c.ID)
	return err
}

// Kill sends sig to the container's command. The restart policy no longer
// applies.
func (r *Runtime) Kill(ctx context.Context, ref string, sig syscall.Signal) error {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return err
	}
	if !c.State.Running() {
		return fmt.Errorf("%w: container %s is not running", ErrNotRunning, c.ID[:12])
	}
	c, err = r.update(ctx, c.ID, func(c *Container) error { c.State.StopRequested = true; return nil })
	if err != nil {
		return err
	}
	if alive(c.State.Container) {
		if err := unix.Kill(c.State.Container.Pid, sig); err != nil {
			return fmt.Errorf("killing container %s: %w", c.ID[:12], err)
		}
	}
	if sig == unix.SIGKILL {
		_, err = r.waitStopped(ctx, c.ID)
	}
	return err
}

// Wait blocks until the container ref stops and returns its exit code.
func (r *Runtime) Wait(ctx context.Context, ref string) (int, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return -1, err
	}
	return r.waitStopped(ctx, c.ID)
}

// waitStopped polls the state until the container is neither running nor restarting.
func (r *Runtime) waitStopped(ctx context.Context, id string) (int, error) {
	for delay := 5 * time.Millisecond; ; {
		c, err := r.reconcile(ctx, id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				return 0, nil // removed (--rm) once it stopped
			}
			return -1, err
		}
		if !c.State.Running() {
			return c.State.ExitCode, nil
		}
		if alive(c.State.Container) {
			waitExit(ctx, c.State.Container, time.Second)
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// waitExit waits up to d for the process to exit; it reports whether it did.
func waitExit(ctx context.Context, id Identity, d time.Duration) bool {
	fd, err := unix.PidfdOpen(id.Pid, 0)
	if err != nil {
		return !alive(id)
	}
	defer unix.Close(fd)
	if !alive(id) {
		return true
	}
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		ms := int(left / time.Millisecond)
		if ms > 100 {
			ms = 100
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if err == nil && n > 0 {
			return true
		}
	}
}

// Remove deletes the container ref; a running one only with force (it is
// killed first). With volumes its anonymous volumes go too.
func (r *Runtime) Remove(ctx context.Context, ref string, force, volumes bool) error {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Running() {
		if !force {
			return fmt.Errorf("%w: you cannot remove a running container %s. Stop the container before attempting removal or force remove", ErrRunning, c.ID)
		}
		if err := r.Kill(ctx, c.ID, unix.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
	}
	return r.remove(ctx, c.ID, volumes)
}

func (r *Runtime) remove(ctx context.Context, id string, volumes bool) error {
	unlock, err := r.lockNames(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := r.read(id)
	if err != nil {
		return err
	}
	if c.State.Monitor != self() {
		// A monitor that recorded the exit may still be returning: let it go first.
		waitExit(ctx, c.State.Monitor, 5*time.Second)
	}
	if volumes || c.Config.AutoRemove {
		for _, m := range c.Config.Mounts {
			// An anonymous volume another container uses (--volumes-from) stays, as with docker.
			if m.Type == "volume" && len(m.Source) == 64 && !r.volumeInUse(ctx, m.Source, id) {
				os.RemoveAll(r.volumePath(m.Source)[:len(r.volumePath(m.Source))-len("/_data")])
			}
		}
	}
	if err := os.RemoveAll(r.Dir(id)); err != nil {
		return fmt.Errorf("removing container %s: %w", id[:12], err)
	}
	return nil
}

// volumeInUse reports whether a container other than except mounts the volume name.
func (r *Runtime) volumeInUse(ctx context.Context, name, except string) bool {
	list, err := r.List(ctx)
	if err != nil {
		return true // when in doubt, keep it
	}
	for _, c := range list {
		if c.ID == except {
			continue
		}
		for _, m := range c.Config.Mounts {
			if m.Type == "volume" && m.Source == name {
				return true
			}
		}
	}
	return false
}

// RemoveVolume deletes a named volume unless a container uses it.
func (r *Runtime) RemoveVolume(ctx context.Context, name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w: %q", ErrBadOption, name)
	}
	dir := r.volumePath(name)[:len(r.volumePath(name))-len("/_data")]
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("no such volume: %s", name)
	}
	list, err := r.List(ctx)
	if err != nil {
		return err
	}
	for _, c := range list {
		for _, m := range c.Config.Mounts {
			if m.Type == "volume" && m.Source == name {
				return fmt.Errorf("remove %s: volume is in use - [%s]", name, c.ID)
			}
		}
	}
	return os.RemoveAll(dir)
}

// Prune removes every container that is not running (docker container prune) and returns their
// IDs. Anonymous volumes stay, as with docker.
func (r *Runtime) Prune(ctx context.Context) ([]string, error) {
	list, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, c := range list {
		if c.State.Running() {
			continue
		}
		if err := r.Remove(ctx, c.ID, false, false); err != nil {
			return removed, err
		}
		removed = append(removed, c.ID)
	}
	return removed, nil
}
