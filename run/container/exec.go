package container

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/creack/pty"

	"github.com/hoistbuild/hoist/run"
)

// ExecOptions are docker exec's flags.
type ExecOptions struct {
	Args        []string
	Env         []string // KEY=VALUE added to the container's
	User        string   // "" = the container's
	WorkingDir  string   // "" = the container's
	Tty         bool
	Interactive bool
	Detach      bool
}

// Exec runs a command in the running container ref and returns its exit
// code (0 at once with Detach). A failure to start is a *StartError.
func (r *Runtime) Exec(ctx context.Context, ref string, o ExecOptions, stdio Stdio) (int, error) {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return -1, err
	}
	if c.State.Status != StatusRunning || !alive(c.State.Container) {
		return -1, fmt.Errorf("%w: container %s is not running", ErrNotRunning, c.ID[:12])
	}
	spec := run.EnterSpec{
		Args:     o.Args,
		Env:      mergeEnv(c.Config.Env, o.Env),
		Cwd:      c.Config.WorkingDir,
		User:     c.Config.User,
		Terminal: o.Tty,
		Detach:   o.Detach,
		Security: c.Config.Security,
		Alive:    func() bool { return alive(c.State.Container) },
	}
	if o.User != "" {
		spec.User = o.User
	}
	if o.WorkingDir != "" {
		spec.Cwd = o.WorkingDir
	}
	if cg := c.State.Cgroup; cg != nil {
		spec.JoinCgroup, spec.AddToCgroup = cg.JoinThread, cg.Add
	}
	var pio run.IO
	var copies sync.WaitGroup
	if o.Detach {
		devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
		if err != nil {
			return -1, err
		}
		defer devnull.Close()
		pio = run.IO{Stdin: devnull, Stdout: devnull, Stderr: devnull}
	} else if o.Tty {
		master, slave, err := openPtyIn(fmt.Sprintf("/proc/%d/root", c.State.Container.Pid))
		if err != nil {
			return -1, fmt.Errorf("opening a pty: %w", err)
		}
		defer master.Close()
		defer slave.Close()
		if stdio.Terminal != nil {
			_ = pty.InheritSize(stdio.Terminal, master)
			stop := followSize(stdio.Terminal, master)
			defer stop()
		}
		pio = run.IO{Stdin: slave, Stdout: slave, Stderr: slave}
		if stdio.Out != nil {
			copies.Add(1)
			go func() { defer copies.Done(); _, _ = io.Copy(stdio.Out, master) }()
		}
		if o.Interactive && stdio.In != nil {
			go func() { _, _ = io.Copy(master, stdio.In) }()
		}
	} else {
		pio = run.IO{Stdout: stdio.Out, Stderr: stdio.Err}
		if o.Interactive {
			pio.Stdin = stdio.In
		}
	}
	p, err := run.Enter(ctx, c.State.Container.Pid, spec, pio)
	if err != nil {
		return -1, &StartError{Code: startErrorCode(err), Err: err}
	}
	if o.Detach {
		return 0, nil
	}
	if o.Tty {
		pio.Stdin.(*os.File).Close()
	}
	var stopSignals func()
	if !o.Tty {
		stopSignals = proxySignals(p)
	}
	code, err := p.Wait()
	if stopSignals != nil {
		stopSignals()
	}
	copies.Wait()
	return code, err
}
