package container

import (
	"errors"
	"syscall"
	"testing"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		spec string
		want Port
		bad  bool
	}{
		{spec: "8080:80", want: Port{HostPort: 8080, ContainerPort: 80, Proto: "tcp"}},
		{spec: "127.0.0.1:80:80", want: Port{HostIP: "127.0.0.1", HostPort: 80, ContainerPort: 80, Proto: "tcp"}},
		{spec: "127.0.0.1::80", want: Port{HostIP: "127.0.0.1", ContainerPort: 80, Proto: "tcp"}},
		{spec: "80", want: Port{ContainerPort: 80, Proto: "tcp"}},
		{spec: "53:53/udp", want: Port{HostPort: 53, ContainerPort: 53, Proto: "udp"}},
		{spec: "80/sctp", bad: true},
		{spec: "1:2:3:4", bad: true},
		{spec: "0", bad: true},
		{spec: "70000", bad: true},
		{spec: "x:80", bad: true},
		{spec: "300.1:80:80", bad: true},
	}
	for _, tc := range tests {
		got, err := ParsePort(tc.spec)
		if tc.bad {
			if !errors.Is(err, ErrBadOption) {
				t.Errorf("ParsePort(%q) = %+v, %v; want ErrBadOption", tc.spec, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in   string
		want RestartPolicy
		bad  bool
	}{
		{in: "", want: RestartPolicy{Name: "no"}},
		{in: "no", want: RestartPolicy{Name: "no"}},
		{in: "always", want: RestartPolicy{Name: "always"}},
		{in: "unless-stopped", want: RestartPolicy{Name: "unless-stopped"}},
		{in: "on-failure", want: RestartPolicy{Name: "on-failure"}},
		{in: "on-failure:3", want: RestartPolicy{Name: "on-failure", MaxRetry: 3}},
		{in: "on-failure:-1", bad: true},
		{in: "always:3", bad: true},
		{in: "sometimes", bad: true},
	}
	for _, tc := range tests {
		got, err := parseRestart(tc.in)
		if tc.bad != (err != nil) || (!tc.bad && got != tc.want) {
			t.Errorf("parseRestart(%q) = %+v, %v", tc.in, got, err)
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "term": syscall.SIGTERM, "9": syscall.SIGKILL, "SIGUSR1": syscall.SIGUSR1} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "SIGNOPE", "0", "99"} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) succeeded", in)
		}
	}
}

func TestShouldRestart(t *testing.T) {
	c := func(policy string, max, count int, stopped bool) *Container {
		return &Container{Config: Config{Restart: RestartPolicy{Name: policy, MaxRetry: max}},
			State: State{RestartCount: count, StopRequested: stopped}}
	}
	tests := []struct {
		name string
		c    *Container
		code int
		err  error
		want bool
	}{
		{"no", c("no", 0, 0, false), 1, nil, false},
		{"always after success", c("always", 0, 5, false), 0, nil, true},
		{"always after stop", c("always", 0, 0, true), 137, nil, false},
		{"on-failure success", c("on-failure", 3, 0, false), 0, nil, false},
		{"on-failure under max", c("on-failure", 3, 2, false), 1, nil, true},
		{"on-failure at max", c("on-failure", 3, 3, false), 1, nil, false},
		{"on-failure unlimited", c("on-failure", 0, 100, false), 1, nil, true},
		{"start error", c("always", 0, 0, false), -1, &StartError{Code: 127, Err: errors.New("x")}, false},
	}
	for _, tc := range tests {
		if got := shouldRestart(tc.c, tc.code, tc.err, 1); got != tc.want {
			t.Errorf("%s: shouldRestart = %v, want %v", tc.name, got, tc.want)
		}
	}
}
