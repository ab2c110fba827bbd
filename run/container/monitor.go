package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/store"
)

// MonitorArg is os.Args[1] of a container monitor process; [MaybeMonitor]
// recognises it.
const MonitorArg = "__hoist_monitor"

// The launcher and the monitor share one pipe, the monitor's fd 3:
//
//	launcher (Start)                       monitor (MaybeMonitor)
//	start /proc/self/exe MonitorArg root id (setsid, stdio /dev/null)
//	                                       first attempt: cgroup, network, run.Start
//	read fd 3 to EOF  <──── "ok" or a JSON monitorReport, then close
//	""  → the monitor died before reporting
//	the launcher exits; the monitor waits for the container, logs its
//	output, records its exit and applies the restart policy.
const reportFd = 3

type monitorReport struct {
	OK   bool   `json:"ok"`
	Msg  string `json:"msg,omitempty"`
	Code int    `json:"code,omitempty"`
}

// MaybeMonitor must be called first thing in main (after run.MaybeInit).
// In a monitor process it supervises the container and exits; otherwise it
// returns at once.
func MaybeMonitor() {
	if len(os.Args) < 4 || os.Args[1] != MonitorArg {
		return
	}
	// Keep the monitor small: it mostly sleeps in wait4 and copies output.
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(25)
	debug.SetMemoryLimit(4 << 20)
	// Caught, not ignored: an ignored signal stays ignored across exec, and the container's
	// processes must start with every signal at its default (Ctrl-C on an attached pty).
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGHUP, unix.SIGINT, unix.SIGPIPE)
	go func() {
		for range sigs {
		}
	}()
	report := os.NewFile(reportFd, "report")
	unix.CloseOnExec(reportFd)
	err := monitorMain(os.Args[2], os.Args[3], report)
	if err != nil {
		fmt.Fprintf(os.Stderr, "hoist monitor: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func monitorMain(root, id string, report *os.File) error {
	st, err := store.Open(root)
	if err != nil {
		writeReport(report, &StartError{Code: 125, Err: err})
		return err
	}
	r, err := Open(root, st)
	if err != nil {
		writeReport(report, &StartError{Code: 125, Err: err})
		return err
	}
	return r.monitor(context.Background(), id, report)
}

func writeReport(w io.WriteCloser, err error) {
	if w == nil {
		return
	}
	rep := monitorReport{OK: err == nil}
	if err != nil {
		rep.Msg, rep.Code = err.Error(), 125
		var se *StartError
		if errors.As(err, &se) {
			rep.Code = se.Code
		}
	}
	_ = json.NewEncoder(w).Encode(rep)
	w.Close()
}

// monitor runs container id until it stops for good, restarting it as its
// policy says. The first attempt's outcome goes to report.
func (r *Runtime) monitor(ctx context.Context, id string, report *os.File) error {
	c, err := r.read(id)
	if err != nil {
		writeReport(report, &StartError{Code: 125, Err: err})
		return err
	}
	stdio := Stdio{}
	if c.Config.OpenStdin {
		fifo := filepath.Join(r.Dir(id), "stdin")
		if err := unix.Mkfifo(fifo, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
			writeReport(report, &StartError{Code: 125, Err: err})
			return err
		}
		// O_RDWR: the FIFO never reports EOF while the monitor lives, so the
		// container's stdin stays open between attaches, as with docker -di.
		f, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			writeReport(report, &StartError{Code: 125, Err: err})
			return err
		}
		defer f.Close()
		stdio.In = f
	}
	var failures int
	for first := true; ; first = false {
		c, err = r.read(id)
		if err != nil {
			return err
		}
		var rep *os.File
		if first {
			rep = report
		}
		code, err := r.attempt(ctx, c, stdio, func() {
			writeReport(rep, nil)
			rep = nil
			debug.FreeOSMemory()
			trimFileRSS()
		})
		if rep != nil { // failed before the command ran
			writeReport(rep, err)
			return nil
		}
		c, rerr := r.read(id)
		if rerr != nil {
			return nil // removed while running
		}
		if code != 0 || err != nil {
			failures++
		}
		if !shouldRestart(c, code, err, failures) {
			if c.Config.AutoRemove {
				// A client of RunDetachable holds this until it has read the exit code.
				if release, err := flock(ctx, filepath.Join(r.Dir(id), ".exit.lock")); err == nil {
					release()
				}
				return r.remove(ctx, id, true)
			}
			return nil
		}
		backoff := 100 * time.Millisecond << min(failures, 10)
		if code == 0 {
			backoff = 100 * time.Millisecond
		}
		if _, err := r.update(ctx, id, func(c *Container) error {
			if c.State.StopRequested {
				return errStopRequested
			}
			c.State.Status = StatusRestarting
			c.State.RestartCount++
			c.State.Monitor = self()
			return nil
		}); err != nil {
			return nil
		}
		time.Sleep(min(backoff, 10*time.Second))
		if c, err := r.read(id); err != nil || c.State.StopRequested {
			if err == nil {
				_, _ = r.update(ctx, id, func(c *Container) error { c.State.Status = StatusExited; return nil })
			}
			return nil
		}
	}
}

var errStopRequested = errors.New("stop requested")

// shouldRestart applies the restart policy after an exit.
func shouldRestart(c *Container, code int, err error, failures int) bool {
	if c.State.StopRequested {
		return false
	}
	var se *StartError
	if errors.As(err, &se) {
		return false // docker does not retry a command that cannot start
	}
	switch c.Config.Restart.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		if code == 0 {
			return false
		}
		return c.Config.Restart.MaxRetry == 0 || c.State.RestartCount < c.Config.Restart.MaxRetry
	}
	return false
}

// Start starts the created or stopped container ref detached: a monitor
// process supervises it and outlives this one. Start returns once the
// command runs, or with its *StartError. Starting a running container does
// nothing.
func (r *Runtime) Start(ctx context.Context, ref string) error {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Running() {
		return nil
	}
	if _, err := r.update(ctx, c.ID, func(c *Container) error { c.State.StopRequested = false; return nil }); err != nil {
		return err
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return err
	}
	defer rd.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		wr.Close()
		return err
	}
	defer devnull.Close()
	cmd := &exec.Cmd{
		Path:        "/proc/self/exe",
		Args:        []string{os.Args[0], MonitorArg, r.hroot, c.ID},
		Env:         append([]string{"PATH=" + os.Getenv("PATH")}, rootless.Env()...),
		Stdin:       devnull,
		Stdout:      devnull,
		Stderr:      devnull,
		ExtraFiles:  []*os.File{wr},
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		return fmt.Errorf("starting the container monitor: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it if it exits while we still run
	data, _ := io.ReadAll(rd)
	var rep monitorReport
	if len(data) == 0 || json.Unmarshal(data, &rep) != nil {
		return &StartError{Code: 125, Err: errors.New("the container monitor exited before starting the container")}
	}
	if !rep.OK {
		return &StartError{Code: rep.Code, Err: errors.New(rep.Msg)}
	}
	return nil
}

// Restart stops the container (if running) and starts it detached.
func (r *Runtime) Restart(ctx context.Context, ref string, o StopOptions) error {
	if err := r.Stop(ctx, ref, o); err != nil {
		return err
	}
	return r.Start(ctx, ref)
}
