package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/cgroups"
)

// Health states, as docker's.
const (
	HealthNone      = "none" // no health check (only in ps filters)
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// Docker's defaults and limits (moby daemon/health.go).
const (
	defaultProbeInterval = 30 * time.Second
	defaultProbeTimeout  = 30 * time.Second
	defaultStartInterval = 5 * time.Second
	defaultProbeRetries  = 3
	maxHealthLog         = 5    // results kept in State.Health.Log
	maxProbeOutput       = 4096 // bytes of a probe's output kept
	minHealthDuration    = time.Millisecond
)

// Healthcheck is a container's health check: the image's HEALTHCHECK with the --health-* flags
// applied. Zero durations and retries mean docker's defaults.
type Healthcheck struct {
	// Test is ["NONE"] (disabled), ["CMD", argv...] or ["CMD-SHELL", command].
	Test          []string      `json:"test,omitempty"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"startPeriod,omitempty"`
	StartInterval time.Duration `json:"startInterval,omitempty"`
	Retries       int           `json:"retries,omitempty"`
	// Shell runs a CMD-SHELL test: the image's SHELL, else /bin/sh -c.
	Shell []string `json:"shell,omitempty"`
}

// enabled reports whether hc has a probe to run.
func (hc *Healthcheck) enabled() bool {
	return hc != nil && len(hc.Test) > 0 && (hc.Test[0] == "CMD" && len(hc.Test) > 1 || hc.Test[0] == "CMD-SHELL" && len(hc.Test) > 1)
}

// Health is the recorded state of a container's health check (docker's State.Health).
type Health struct {
	Status        string         `json:"status"` // starting, healthy or unhealthy
	FailingStreak int            `json:"failingStreak"`
	Log           []HealthResult `json:"log"` // the last results, oldest first
}

// HealthResult is one probe's outcome.
type HealthResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exitCode"`
	Output   string    `json:"output"`
}

// HealthOptions are run/create's --health-* flags and --no-healthcheck.
type HealthOptions struct {
	Cmd                                           string // --health-cmd: a CMD-SHELL test
	Interval, Timeout, StartPeriod, StartInterval time.Duration
	Retries                                       int
	Disable                                       bool // --no-healthcheck
}

func (o HealthOptions) set() bool {
	return o.Cmd != "" || o.Interval != 0 || o.Timeout != 0 || o.StartPeriod != 0 || o.StartInterval != 0 || o.Retries != 0
}

// healthFor is the container's health check: docker's CLI rules for the flags (no negative values,
// --no-healthcheck alone), its daemon's (durations of at least 1ms), then its merge with the
// image's: each value the flags leave unset comes from the image.
func healthFor(img *v1.HealthConfig, shell []string, o HealthOptions) (*Healthcheck, error) {
	for _, d := range []struct {
		flag, field string
		v           time.Duration
	}{
		{"interval", "Interval", o.Interval}, {"timeout", "Timeout", o.Timeout},
		{"start-period", "StartPeriod", o.StartPeriod}, {"start-interval", "StartInterval", o.StartInterval},
	} {
		if d.v < 0 {
			return nil, fmt.Errorf("%w: --health-%s cannot be negative", ErrBadOption, d.flag)
		}
		if d.v != 0 && d.v < minHealthDuration {
			return nil, fmt.Errorf("%w: %s in Healthcheck cannot be less than %s", ErrBadOption, d.field, minHealthDuration)
		}
	}
	if o.Retries < 0 {
		return nil, fmt.Errorf("%w: --health-retries cannot be negative", ErrBadOption)
	}
	if o.Disable {
		if o.set() {
			return nil, fmt.Errorf("%w: --no-healthcheck conflicts with --health-* options", ErrBadOption)
		}
		return &Healthcheck{Test: []string{"NONE"}}, nil
	}
	if img == nil && !o.set() {
		return nil, nil
	}
	hc := &Healthcheck{Interval: o.Interval, Timeout: o.Timeout, StartPeriod: o.StartPeriod,
		StartInterval: o.StartInterval, Retries: o.Retries, Shell: shell}
	if o.Cmd != "" {
		hc.Test = []string{"CMD-SHELL", o.Cmd}
	}
	if img != nil {
		if len(hc.Test) == 0 {
			hc.Test = img.Test
		}
		hc.Interval = cmpOr(hc.Interval, img.Interval)
		hc.Timeout = cmpOr(hc.Timeout, img.Timeout)
		hc.StartPeriod = cmpOr(hc.StartPeriod, img.StartPeriod)
		hc.Retries = cmpOr(hc.Retries, img.Retries)
	}
	return hc, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// resetHealth gives a container that starts (or restarts) with a health check the status
// starting and no failing streak; earlier results stay in the log, as with docker.
func resetHealth(c *Container) {
	if !c.Config.Healthcheck.enabled() {
		c.State.Health = nil
		return
	}
	if c.State.Health == nil {
		c.State.Health = &Health{Log: []HealthResult{}}
	}
	c.State.Health.Status, c.State.Health.FailingStreak = HealthStarting, 0
}

// apply records one probe result as docker's handleProbeResult does: success makes the container
// healthy; a failure adds to the failing streak (except while starting within the start period)
// and the streak reaching the retries makes it unhealthy. startedAt is when the container started.
func (h *Health) apply(res HealthResult, hc *Healthcheck, startedAt time.Time) {
	h.Log = append(h.Log, res)
	if len(h.Log) > maxHealthLog {
		h.Log = append([]HealthResult{}, h.Log[len(h.Log)-maxHealthLog:]...)
	}
	if res.ExitCode == 0 {
		h.FailingStreak, h.Status = 0, HealthHealthy
		return
	}
	if h.Status == HealthStarting && res.Start.Sub(startedAt) < hc.StartPeriod {
		return // failures in the start period do not count
	}
	h.FailingStreak++
	if h.FailingStreak >= cmpOr(hc.Retries, defaultProbeRetries) {
		h.Status = HealthUnhealthy
	}
}

// nextProbe is the wait before the next probe (moby's getInterval): the interval, but during the
// start period the start interval while still starting, and never past the start period's end.
func nextProbe(hc *Healthcheck, status string, sinceStart time.Duration) time.Duration {
	interval := cmpOr(hc.Interval, defaultProbeInterval)
	if sinceStart >= hc.StartPeriod {
		return interval
	}
	if left := hc.StartPeriod - sinceStart; left < interval {
		return left
	}
	if status == HealthStarting {
		return cmpOr(hc.StartInterval, defaultStartInterval)
	}
	return interval
}

// healthText is the health part of ps's STATUS: "health: starting", "healthy", "unhealthy".
func healthText(h *Health) string {
	if h.Status == HealthStarting {
		return "health: starting"
	}
	return h.Status
}

// healthStatus is the health a ps filter sees: none without a health check.
func healthStatus(c *Container) string {
	if c.State.Health == nil {
		return HealthNone
	}
	return c.State.Health.Status
}

// startHealth runs c's health check while p runs, recording each result in the container's state
// (c must be the container as recorded running). The returned stop ends it (a probe in flight is
// killed and its result dropped) and returns once it is over.
func (r *Runtime) startHealth(ctx context.Context, c *Container, p *run.Process, cg *cgroups.Cgroup) func() {
	hc := c.Config.Healthcheck
	if !hc.enabled() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	pr := &prober{r: r, c: c, hc: hc, target: Identity{Pid: p.Pid(), Start: c.State.Container.Start}, cg: cg}
	go func() { defer close(done); pr.loop(ctx) }()
	return func() { cancel(); <-done }
}

// prober runs one container's health check.
type prober struct {
	r      *Runtime
	c      *Container
	hc     *Healthcheck
	target Identity // the container's PID 1
	cg     *cgroups.Cgroup
}

var errStaleRun = errors.New("the container run the probe belongs to is over")

func (pr *prober) loop(ctx context.Context) {
	status := HealthStarting
	timer := time.NewTimer(nextProbe(pr.hc, status, time.Since(pr.c.State.StartedAt)))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		res := pr.probe(ctx)
		if ctx.Err() != nil {
			return // stopped while probing: the result is dropped, as docker drops it
		}
		c, err := pr.r.update(ctx, pr.c.ID, func(c *Container) error {
			if c.State.Container != pr.target || c.State.Health == nil {
				return errStaleRun
			}
			c.State.Health.apply(res, pr.hc, pr.c.State.StartedAt)
			return nil
		})
		if err != nil {
			return
		}
		status = c.State.Health.Status
		timer.Reset(nextProbe(pr.hc, status, time.Since(pr.c.State.StartedAt)))
	}
}

// probe runs the test once inside the container, as exec does (run.Enter: the container's
// namespaces, cgroup, user, environment, working directory and restrictions), with the timeout.
func (pr *prober) probe(ctx context.Context) HealthResult {
	start := time.Now()
	res := HealthResult{Start: start.UTC(), ExitCode: -1}
	code, out, err := pr.exec(ctx)
	res.End = time.Now().UTC()
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		timeout := cmpOr(pr.hc.Timeout, defaultProbeTimeout)
		res.Output = fmt.Sprintf("Health check exceeded timeout (%v)", timeout)
		if out != "" {
			res.Output += ": " + out
		}
	case err != nil:
		res.Output = err.Error()
	default:
		res.ExitCode, res.Output = code, out
	}
	return res
}

// exec runs the probe command and returns its exit code and output (stdout and stderr together,
// at most maxProbeOutput bytes, "..." marking a cut).
func (pr *prober) exec(ctx context.Context) (int, string, error) {
	c := pr.c
	args := append([]string{}, pr.hc.Test[1:]...)
	if pr.hc.Test[0] == "CMD-SHELL" {
		args = append(cmpOrSlice(pr.hc.Shell, []string{"/bin/sh", "-c"}), args...)
	}
	spec := run.EnterSpec{
		Args: args, Env: containerEnv(c), Cwd: c.Config.WorkingDir, User: c.Config.User,
		Security: c.Config.Security, Alive: func() bool { return alive(pr.target) },
	}
	if pr.cg != nil {
		spec.JoinCgroup, spec.AddToCgroup = pr.cg.JoinThread, pr.cg.Add
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return -1, "", err
	}
	defer rd.Close()
	out := &limitedBuffer{max: maxProbeOutput}
	copied := make(chan struct{})
	go func() { defer close(copied); _, _ = io.Copy(out, rd) }()
	ctx, cancel := context.WithTimeout(ctx, cmpOr(pr.hc.Timeout, defaultProbeTimeout))
	defer cancel()
	p, err := run.Enter(ctx, pr.target.Pid, spec, run.IO{Stdout: wr, Stderr: wr})
	wr.Close()
	if err != nil {
		return -1, "", err
	}
	code, werr := p.Wait()
	// A background process of the probe may hold the pipe open: do not wait for it long.
	select {
	case <-copied:
	case <-time.After(time.Second):
	}
	if ctx.Err() != nil {
		return -1, out.String(), ctx.Err()
	}
	return code, out.String(), werr
}

func cmpOrSlice(v, def []string) []string {
	if len(v) == 0 {
		return def
	}
	return append([]string{}, v...)
}

// limitedBuffer keeps the first max bytes written to it (docker's limitedBuffer).
type limitedBuffer struct {
	mu        sync.Mutex
	buf       []byte
	max       int
	truncated bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	keep := min(b.max-len(b.buf), len(p))
	if keep > 0 {
		b.buf = append(b.buf, p[:keep]...)
	}
	if keep < len(p) {
		b.truncated = true
	}
	return len(p), nil
}

// String is what was kept, with "..." after it when more was written.
func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return string(b.buf) + "..."
	}
	return string(b.buf)
}
