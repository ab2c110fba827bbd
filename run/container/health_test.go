package container

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The flags over the image's HEALTHCHECK, with docker's CLI and daemon checks (messages as docker
// 20.10 prints them).
func TestHealthFor(t *testing.T) {
	img := &v1.HealthConfig{Test: []string{"CMD", "true"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 4}
	tests := []struct {
		name string
		img  *v1.HealthConfig
		o    HealthOptions
		want *Healthcheck
		bad  string
	}{
		{name: "none", want: nil},
		{name: "image only", img: img, want: &Healthcheck{Test: []string{"CMD", "true"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 4}},
		{name: "cmd flag", o: HealthOptions{Cmd: "test -e /ok", Interval: time.Second},
			want: &Healthcheck{Test: []string{"CMD-SHELL", "test -e /ok"}, Interval: time.Second}},
		{name: "flag overrides one value", img: img, o: HealthOptions{Interval: time.Second},
			want: &Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 4}},
		{name: "cmd replaces the image's test", img: img, o: HealthOptions{Cmd: "exit 1", Retries: 1},
			want: &Healthcheck{Test: []string{"CMD-SHELL", "exit 1"}, Interval: 5 * time.Second, Timeout: 2 * time.Second, Retries: 1}},
		{name: "no-healthcheck", img: img, o: HealthOptions{Disable: true}, want: &Healthcheck{Test: []string{"NONE"}}},
		{name: "no-healthcheck conflicts", o: HealthOptions{Disable: true, Cmd: "true"}, bad: "--no-healthcheck conflicts with --health-* options"},
		{name: "negative interval", o: HealthOptions{Interval: -time.Second}, bad: "--health-interval cannot be negative"},
		{name: "negative retries", o: HealthOptions{Retries: -1}, bad: "--health-retries cannot be negative"},
		{name: "negative start interval", o: HealthOptions{StartInterval: -1}, bad: "--health-start-interval cannot be negative"},
		{name: "interval below 1ms", o: HealthOptions{Interval: 500 * time.Microsecond}, bad: "Interval in Healthcheck cannot be less than 1ms"},
		{name: "timeout below 1ms", o: HealthOptions{Timeout: time.Microsecond}, bad: "Timeout in Healthcheck cannot be less than 1ms"},
	}
	for _, tc := range tests {
		got, err := healthFor(tc.img, nil, tc.o)
		if tc.bad != "" {
			if !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("%s: %+v, %v; want ErrBadOption with %q", tc.name, got, err, tc.bad)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

// The state machine of moby's handleProbeResult, step by step.
func TestHealthApply(t *testing.T) {
	started := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int, code int) HealthResult {
		return HealthResult{Start: started.Add(time.Duration(s) * time.Second), ExitCode: code}
	}
	hc := &Healthcheck{Test: []string{"CMD-SHELL", "x"}, Retries: 2, StartPeriod: 3 * time.Second}
	h := &Health{Status: HealthStarting, Log: []HealthResult{}}
	type step struct {
		res    HealthResult
		status string
		streak int
	}
	for i, s := range []step{
		{at(1, 1), HealthStarting, 0},  // in the start period: not counted
		{at(2, 1), HealthStarting, 0},  // still
		{at(4, 1), HealthStarting, 1},  // after it: counted
		{at(5, 0), HealthHealthy, 0},   // success
		{at(6, 1), HealthHealthy, 1},   // one failure: still healthy
		{at(7, 2), HealthUnhealthy, 2}, // any non-zero status fails; retries reached
		{at(8, 1), HealthUnhealthy, 3},
		{at(9, 0), HealthHealthy, 0},
	} {
		h.apply(s.res, hc, started)
		if h.Status != s.status || h.FailingStreak != s.streak {
			t.Fatalf("step %d: status %s streak %d, want %s %d", i, h.Status, h.FailingStreak, s.status, s.streak)
		}
	}
	if len(h.Log) != maxHealthLog || !h.Log[len(h.Log)-1].Start.Equal(at(9, 0).Start) || !h.Log[0].Start.Equal(at(5, 0).Start) {
		t.Errorf("log keeps the last %d results, oldest first: %+v", maxHealthLog, h.Log)
	}
	// Default retries: 3.
	h = &Health{Status: HealthHealthy}
	for range 2 {
		h.apply(at(10, 1), &Healthcheck{}, started)
	}
	if h.Status != HealthHealthy {
		t.Errorf("2 failures with the default retries: %s", h.Status)
	}
	h.apply(at(10, 1), &Healthcheck{}, started)
	if h.Status != HealthUnhealthy {
		t.Errorf("3 failures with the default retries: %s", h.Status)
	}
}

// moby's getInterval: interval; in the start period the start interval while starting, never
// past the start period's end.
func TestNextProbe(t *testing.T) {
	s := time.Second
	tests := []struct {
		hc     Healthcheck
		status string
		since  time.Duration
		want   time.Duration
	}{
		{Healthcheck{}, HealthStarting, 0, 30 * s},
		{Healthcheck{Interval: 2 * s}, HealthStarting, 0, 2 * s},
		{Healthcheck{Interval: 10 * s, StartPeriod: 60 * s}, HealthStarting, 0, 5 * s},
		{Healthcheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, HealthStarting, 0, s},
		{Healthcheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, HealthHealthy, 0, 10 * s},
		{Healthcheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, HealthStarting, 57 * s, 3 * s},
		{Healthcheck{Interval: 10 * s, StartPeriod: 60 * s, StartInterval: s}, HealthStarting, 61 * s, 10 * s},
	}
	for _, tc := range tests {
		if got := nextProbe(&tc.hc, tc.status, tc.since); got != tc.want {
			t.Errorf("nextProbe(%+v, %s, %v) = %v, want %v", tc.hc, tc.status, tc.since, got, tc.want)
		}
	}
}

func TestHealthStatusText(t *testing.T) {
	now := time.Now()
	c := &Container{State: State{Status: StatusRunning, StartedAt: now.Add(-3 * time.Second)}}
	for _, tc := range []struct {
		health *Health
		want   string
	}{
		{nil, "Up 3 seconds"},
		{&Health{Status: HealthStarting}, "Up 3 seconds (health: starting)"},
		{&Health{Status: HealthHealthy}, "Up 3 seconds (healthy)"},
		{&Health{Status: HealthUnhealthy}, "Up 3 seconds (unhealthy)"},
	} {
		c.State.Health = tc.health
		if got := StatusText(c, now); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.health, got, tc.want)
		}
	}
	c.State.Status, c.State.FinishedAt = StatusExited, now.Add(-time.Minute)
	if got := StatusText(c, now); got != "Exited (0) About a minute ago" {
		t.Errorf("exited with a health state: %q", got)
	}
}

func TestLimitedBuffer(t *testing.T) {
	b := &limitedBuffer{max: 4}
	_, _ = b.Write([]byte("ab"))
	if b.String() != "ab" {
		t.Errorf("%q", b.String())
	}
	_, _ = b.Write([]byte("cdef"))
	if b.String() != "abcd..." {
		t.Errorf("%q", b.String())
	}
}
