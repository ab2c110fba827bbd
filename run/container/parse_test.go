package container

import (
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestParsePorts(t *testing.T) {
	tcp := func(ip string, host, hostEnd, ctr int) Port {
		return Port{HostIP: ip, HostPort: host, HostPortEnd: hostEnd, ContainerPort: ctr, Proto: "tcp"}
	}
	tests := []struct {
		spec string
		want []Port
		bad  string // part of the error; "" means valid
	}{
		{spec: "8080:80", want: []Port{tcp("", 8080, 0, 80)}},
		{spec: "127.0.0.1:80:80", want: []Port{tcp("127.0.0.1", 80, 0, 80)}},
		{spec: "127.0.0.1::80", want: []Port{tcp("127.0.0.1", 0, 0, 80)}},
		{spec: "80", want: []Port{tcp("", 0, 0, 80)}},
		{spec: "53:53/udp", want: []Port{{HostPort: 53, ContainerPort: 53, Proto: "udp"}}},
		// docker's ranges: the same size on both sides maps port to port.
		{spec: "8000-8001:80-81", want: []Port{tcp("", 8000, 0, 80), tcp("", 8001, 0, 81)}},
		{spec: "127.0.0.1:8000-8001:80-81/udp", want: []Port{
			{HostIP: "127.0.0.1", HostPort: 8000, ContainerPort: 80, Proto: "udp"},
			{HostIP: "127.0.0.1", HostPort: 8001, ContainerPort: 81, Proto: "udp"},
		}},
		// A container range alone: each port on a free host port.
		{spec: "80-82", want: []Port{tcp("", 0, 0, 80), tcp("", 0, 0, 81), tcp("", 0, 0, 82)}},
		{spec: "127.0.0.1::80-81", want: []Port{tcp("127.0.0.1", 0, 0, 80), tcp("127.0.0.1", 0, 0, 81)}},
		// A host range for one container port: any free port of it.
		{spec: "8000-8010:80", want: []Port{tcp("", 8000, 8010, 80)}},
		{spec: "8000-8000:80-80", want: []Port{tcp("", 8000, 0, 80)}},
		{spec: "8000-8002:80-81", bad: "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"},
		{spec: "8000:80-81", bad: "invalid ranges specified for container and host Ports: 80-81 and 8000"},
		{spec: "81-80", bad: "invalid containerPort: 81-80"},
		{spec: "80-x", bad: "invalid containerPort: 80-x"},
		{spec: "80-", bad: "invalid containerPort"},
		{spec: "-80", bad: "invalid containerPort"},
		{spec: "0-5", bad: "invalid containerPort"},
		{spec: "9000-8000:80", bad: "invalid hostPort: 9000-8000"},
		{spec: "8000-70000:80", bad: "invalid hostPort"},
		{spec: "80/sctp", bad: "protocol must be tcp or udp"},
		{spec: "1:2:3:4", bad: "too many colons"},
		{spec: "0", bad: "invalid containerPort"},
		{spec: "70000", bad: "invalid containerPort"},
		{spec: "x:80", bad: "invalid hostPort"},
		{spec: "300.1:80:80", bad: "invalid host IP"},
	}
	for _, tc := range tests {
		got, err := ParsePorts(tc.spec)
		if tc.bad != "" {
			if !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), tc.bad) {
				t.Errorf("ParsePorts(%q) = %+v, %v; want ErrBadOption with %q", tc.spec, got, err, tc.bad)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParsePorts(%q) = %+v, %v; want %+v", tc.spec, got, err, tc.want)
		}
	}
}

func TestPortsText(t *testing.T) {
	lo := func(host, ctr int, proto string) Port {
		return Port{HostIP: "127.0.0.1", HostPort: host, ContainerPort: ctr, Proto: proto}
	}
	c := &Container{State: State{Ports: []Port{
		lo(8000, 80, "tcp"), lo(8001, 81, "tcp"), lo(8002, 82, "tcp"), // one run
		lo(8003, 90, "tcp"),                      // not consecutive in the container
		lo(8004, 91, "udp"), lo(8005, 92, "udp"), // a run of another protocol
		lo(9000, 53, "tcp"),
	}}}
	want := "127.0.0.1:8000-8002->80-82/tcp, 127.0.0.1:8003->90/tcp, 127.0.0.1:8004-8005->91-92/udp, 127.0.0.1:9000->53/tcp"
	if got := PortsText(c); got != want {
		t.Errorf("PortsText = %q\nwant        %q", got, want)
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
