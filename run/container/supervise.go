package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/cgroups"
	"github.com/hoistbuild/hoist/run/network"
)

// Stdio is what an attached container's standard streams are connected to.
type Stdio struct {
	In       io.Reader // nil: /dev/null (or the stdin FIFO when detached)
	Out, Err io.Writer // nil: the log only
	// Terminal is the user's terminal for a -t container run in the
	// foreground: its size is given to the container's pty and kept in sync.
	Terminal *os.File
	// ProxySignals forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and
	// SIGUSR2 received by this process to the container (docker's sig-proxy).
	ProxySignals bool
	// DetachKeys end an Attach when read from In (nil: never).
	DetachKeys []byte
}

// self is this process's identity.
func self() Identity {
	return Identity{Pid: os.Getpid(), Start: network.ProcessStart(os.Getpid())}
}

func alive(id Identity) bool {
	return id.Pid > 0 && network.ProcessStart(id.Pid) == id.Start
}

// StartError is a failure to start the command, with docker's exit status
// for it: 127 (not found), 126 (not executable), 125 (anything else).
type StartError struct {
	Code int
	Err  error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// startErrorCode maps a start failure to docker's exit status.
func startErrorCode(err error) int {
	msg := err.Error()
	switch {
	case errors.Is(err, exec.ErrNotFound), strings.Contains(msg, "executable file not found"),
		strings.Contains(msg, "no such file or directory"):
		return 127
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EISDIR),
		strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return 126
	}
	return 125
}

// attempt runs the container once, attached to stdio, and returns the
// command's exit code. started is called once the command runs. A failure
// to start is a *StartError; the state then records it.
func (r *Runtime) attempt(ctx context.Context, c *Container, stdio Stdio, started func()) (int, error) {
	code, err := r.attemptRun(ctx, c, stdio, started)
	var se *StartError
	if errors.As(err, &se) {
		_, _ = r.update(context.WithoutCancel(ctx), c.ID, func(c *Container) error {
			c.State.Status = StatusCreated
			if c.State.RestartCount > 0 || !c.State.StartedAt.IsZero() {
				c.State.Status = StatusExited
			}
			c.State.ExitCode, c.State.Error = se.Code, se.Error()
			c.State.Container, c.State.Monitor, c.State.Cgroup = Identity{}, Identity{}, nil
			c.State.FinishedAt = time.Now().UTC()
			return nil
		})
	}
	return code, err
}

// attemptRun starts c once and waits for it: layers, cgroup, network, log, then the sandbox; the
// exit is recorded last, after every other deferred cleanup (cgroup, address, proxy, log), so once
// the state says exited nothing is left.
func (r *Runtime) attemptRun(ctx context.Context, c *Container, stdio Stdio, started func()) (code int, err error) {
	startErr := func(err error) (int, error) { return -1, &StartError{Code: startErrorCode(err), Err: err} }
	var ran, oom bool
	defer func() {
		if ran {
			r.recordExit(ctx, c.ID, code, oom, err)
		}
	}()
	lowers, err := r.lowers(ctx, c)
	if err != nil {
		return startErr(err)
	}
	cg, err := cgroups.CreateOrNone(c.ID, c.Config.Resources)
	if err != nil {
		return startErr(fmt.Errorf("creating cgroup: %w", err))
	}
	defer func() {
		if derr := cg.Destroy(); derr != nil && err == nil {
			err = derr
		}
	}()
	spec := r.containerSpec(c, lowers)
	nw, err := r.connect(ctx, c, &spec)
	if err != nil {
		return startErr(err)
	}
	defer nw.close()
	spec.Prestart = cg.Add
	if nw.lease != nil {
		spec.AttachNetwork = func(pid int) error { return nw.lease.Attach(ctx, pid) }
	}
	logf, err := openLog(r.LogPath(c.ID), c.Config.Log)
	if err != nil {
		return startErr(err)
	}
	defer logf.Close()
	out, errw, flush := logWriters(logf, c, stdio)
	defer flush()
	p, err := run.Start(ctx, spec, containerIO(c, stdio, &spec, out, errw))
	if err != nil {
		return startErr(err)
	}
	running := r.recordRunning(ctx, c, p, cg, nw)
	if started != nil {
		started()
	}
	ran = true
	code, err = r.supervise(ctx, running, p, cg, stdio, out)
	oom = cg.OOMKilled()
	return code, err
}

// recordExit stores the end of a run: status exited, the code, and no process, cgroup or address.
func (r *Runtime) recordExit(ctx context.Context, id string, code int, oom bool, err error) {
	_, _ = r.update(context.WithoutCancel(ctx), id, func(c *Container) error {
		c.State.Status = StatusExited
		c.State.ExitCode, c.State.OOMKilled = code, oom
		c.State.FinishedAt = time.Now().UTC()
		c.State.Container, c.State.Cgroup, c.State.Ports = Identity{}, nil, nil
		c.State.IPAddress, c.State.Gateway = "", ""
		if err != nil {
			c.State.Error = err.Error()
		}
		return nil
	})
}

// recordRunning stores the start of a run: status running, the process, its supervisor (this
// process), cgroup, address, published ports and a health check starting. It returns the container
// as recorded (c if it could not be).
func (r *Runtime) recordRunning(ctx context.Context, c *Container, p *run.Process, cg *cgroups.Cgroup, nw *attemptNet) *Container {
	rc, err := r.update(context.WithoutCancel(ctx), c.ID, func(c *Container) error {
		c.State.Status = StatusRunning
		c.State.Container = Identity{Pid: p.Pid(), Start: network.ProcessStart(p.Pid())}
		c.State.Monitor = self()
		c.State.StartedAt = time.Now().UTC()
		c.State.ExitCode, c.State.Error, c.State.OOMKilled = 0, "", false
		c.State.Cgroup = cg
		c.State.Ports = nw.ports
		c.State.IPAddress, c.State.Gateway = "", ""
		if nw.lease != nil {
			c.State.IPAddress, c.State.Gateway = nw.lease.IP, nw.lease.Gateway
		}
		resetHealth(c)
		return nil
	})
	if err != nil || rc == nil {
		return c
	}
	return rc
}

// supervise waits for the running container p: it copies a pty's output and input, forwards
// signals and window sizes as stdio asks, runs the health check, and returns the exit code.
func (r *Runtime) supervise(ctx context.Context, c *Container, p *run.Process, cg *cgroups.Cgroup, stdio Stdio, out io.Writer) (int, error) {
	var copies sync.WaitGroup
	master := p.Console()
	if master != nil {
		defer master.Close()
		copies.Add(1)
		// Ends with EIO once the container's processes are gone.
		go func() { defer copies.Done(); _, _ = io.Copy(out, master) }()
		if stdio.In != nil {
			go func() { _, _ = io.Copy(master, stdio.In) }()
		}
	}
	stopSignals := func() {}
	if stdio.ProxySignals {
		stopSignals = proxySignals(p)
	}
	stopResize := func() {}
	if master != nil && stdio.Terminal != nil {
		stopResize = followSize(stdio.Terminal, master)
	}

	stopHealth := r.startHealth(ctx, c, p, cg)
	code, err := p.Wait()
	stopHealth()
	stopSignals()
	stopResize()
	copies.Wait()
	return code, err
}

// containerSpec is the sandbox spec of c on the given lower layers (network left to connect).
func (r *Runtime) containerSpec(c *Container, lowers []string) run.Spec {
	dir := r.Dir(c.ID)
	spec := run.Spec{
		Rootfs:         filepath.Join(dir, "rootfs"),
		Overlay:        &run.Overlay{Lowers: lowers, Upper: filepath.Join(dir, "upper"), Work: filepath.Join(dir, "work")},
		Args:           c.Command(),
		Env:            containerEnv(c),
		Cwd:            c.Config.WorkingDir,
		User:           c.Config.User,
		Hostname:       c.Config.Hostname,
		ReadOnlyRootfs: c.Config.ReadOnly,
		StateDir:       dir,
		Terminal:       c.Config.Tty,
		Security:       c.Config.Security,
		Init:           c.Config.Init,
		ShmSize:        c.Config.ShmSize,
		Rlimits:        c.Config.Ulimits,
		ExtraHosts:     hostsLines(c, ""),
		DNS:            c.Config.DNS,
	}
	for _, t := range c.Config.Tmpfs {
		spec.Mounts = append(spec.Mounts, run.Mount{Type: "tmpfs", Target: t.Destination, Options: t.Options})
	}
	for _, m := range c.Config.Mounts {
		src := m.Source
		if m.Type == "volume" {
			src = r.volumePath(m.Source)
		}
		// A volume is filled from the image while it is empty, as docker does (unless nocopy).
		rm := run.Mount{Type: "bind", Source: src, Target: m.Destination, ReadOnly: m.ReadOnly,
			CopyUp: m.Type == "volume" && !m.NoCopy, Propagation: m.Propagation}
		if m.NonRecursive {
			rm.Options = []string{"bind"}
		}
		spec.Mounts = append(spec.Mounts, rm)
	}
	return spec
}

// attemptNet is a run's network: the address lease and port proxy of a bridge container.
type attemptNet struct {
	lease *network.Lease
	proxy *network.Proxy
	ports []Port // as published
}

// connect sets spec's network as c's config says; a bridge container gets an address and its
// published ports. close releases them.
func (r *Runtime) connect(ctx context.Context, c *Container, spec *run.Spec) (*attemptNet, error) {
	nw := &attemptNet{}
	switch c.Config.Network {
	case "host":
		spec.Network = run.NetworkHost
		return nw, nil
	case "none":
		spec.Network = run.NetworkNone
		return nw, nil
	}
	me := self()
	lease, err := network.Allocate(ctx, c.ID, fmt.Sprintf("%d %d", me.Pid, me.Start))
	if err != nil {
		return nil, err
	}
	proxy, bound, err := network.Publish(toNetPorts(c.Config.Ports), lease.IP)
	if err != nil {
		lease.Release()
		return nil, err
	}
	nw.lease, nw.proxy, nw.ports = lease, proxy, fromNetPorts(bound)
	spec.Network = run.NetworkPrivate
	spec.Interface = &run.Interface{Name: "eth0", Address: lease.IP, PrefixLen: lease.PrefixLen, Gateway: lease.Gateway}
	spec.ExtraHosts = hostsLines(c, lease.IP+"\t"+spec.Hostname+" "+c.Name)
	return nw, nil
}

// close stops the port proxy, then releases the address (the order of the deferred calls it replaces).
func (nw *attemptNet) close() {
	if nw.proxy != nil {
		nw.proxy.Close()
	}
	if nw.lease != nil {
		nw.lease.Release()
	}
}

// logWriters are the container's stdout and stderr: each stream logged (a pty's output as it comes,
// so an attached terminal sees a prompt before its newline) and copied to stdio's writer if any.
// flush logs what is pending.
func logWriters(logf *logFile, c *Container, stdio Stdio) (out, errw io.Writer, flush func()) {
	outLog, errLog := &streamWriter{l: logf, stream: "stdout", raw: c.Config.Tty}, &streamWriter{l: logf, stream: "stderr"}
	flush = func() { _ = errLog.Flush(); _ = outLog.Flush() }
	return teeTo(outLog, stdio.Out), teeTo(errLog, stdio.Err), flush
}

// containerIO is the sandbox's stdio: out/errw and stdio.In, or for a -t container nothing (the
// sandbox allocates the pty in its own devpts, so tty says /dev/pts/0 as with docker) and spec's
// console size set from the configured size or the user's terminal.
func containerIO(c *Container, stdio Stdio, spec *run.Spec, out, errw io.Writer) run.IO {
	if !c.Config.Tty {
		return run.IO{Stdin: stdio.In, Stdout: out, Stderr: errw}
	}
	spec.ConsoleSize = run.WindowSize{Rows: 24, Cols: 80}
	if ws := c.Config.ConsoleSize; ws[0] > 0 && ws[1] > 0 {
		spec.ConsoleSize = run.WindowSize{Rows: uint16(ws[0]), Cols: uint16(ws[1])}
	}
	if stdio.Terminal != nil {
		if ws, err := pty.GetsizeFull(stdio.Terminal); err == nil {
			spec.ConsoleSize = run.WindowSize{Rows: ws.Rows, Cols: ws.Cols}
		}
	}
	return run.IO{}
}

// containerEnv is docker's: PATH, HOSTNAME (and TERM with a tty) first, then
// the container's own variables replacing or appended.
func containerEnv(c *Container) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + c.Config.Hostname}
	if c.Config.Tty {
		env = append(env, "TERM=xterm")
	}
	return mergeEnv(env, c.Config.Env)
}

// lowers returns the image's unpacked layers plus the container's init layer.
func (r *Runtime) lowers(ctx context.Context, c *Container) ([]string, error) {
	h, err := v1.NewHash(c.Config.Manifest)
	if err != nil {
		return nil, err
	}
	img, err := r.store.Image(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoImage, c.Config.Image, err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	snaps, err := r.snapshotter()
	if err != nil {
		return nil, err
	}
	lowers, err := snaps.Ensure(ctx, layers)
	if err != nil {
		return nil, err
	}
	if len(lowers) == 0 {
		lowers = append(lowers, filepath.Join(snaps.Root(), "empty"))
	}
	return append(lowers, filepath.Join(r.Dir(c.ID), "init")), nil
}

func teeTo(log io.Writer, w io.Writer) io.Writer {
	if w == nil {
		return log
	}
	return io.MultiWriter(w, log)
}

func toNetPorts(ps []Port) []network.Port {
	var out []network.Port
	for _, p := range ps {
		out = append(out, network.Port(p))
	}
	return out
}

func fromNetPorts(ps []network.Port) []Port {
	var out []Port
	for _, p := range ps {
		out = append(out, Port(p))
	}
	return out
}

// proxySignals forwards the usual signals to the container until stopped.
func proxySignals(p *run.Process) func() {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				_ = p.Signal(s)
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// followSize copies the terminal's window size to the pty on SIGWINCH.
func followSize(term, master *os.File) func() {
	return onWinch(func() { _ = pty.InheritSize(term, master) })
}

// onWinch calls resize on every SIGWINCH until the returned stop is called.
func onWinch(resize func()) (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, unix.SIGWINCH)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				resize()
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
