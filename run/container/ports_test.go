package container

import (
	"reflect"
	"testing"
)

func TestPortLines(t *testing.T) {
	c := &Container{ID: "0123456789abcdef0123", State: State{Ports: []Port{
		{HostIP: "0.0.0.0", HostPort: 8080, ContainerPort: 80, Proto: "tcp"},
		{HostIP: "127.0.0.1", HostPort: 8081, ContainerPort: 80, Proto: "tcp"},
		{HostIP: "0.0.0.0", HostPort: 5353, ContainerPort: 53, Proto: "udp"},
	}}}
	for _, tc := range []struct {
		want string
		out  []string
		err  string
	}{
		{"", []string{"80/tcp -> 0.0.0.0:8080", "80/tcp -> 127.0.0.1:8081", "53/udp -> 0.0.0.0:5353"}, ""},
		{"80", []string{"0.0.0.0:8080", "127.0.0.1:8081"}, ""},
		{"53/udp", []string{"0.0.0.0:5353"}, ""},
		{"53", nil, "no public port '53/tcp' published for 0123456789ab"},
	} {
		out, err := c.PortLines(tc.want)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("PortLines(%q) error = %v, want %q", tc.want, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(out, tc.out) {
			t.Errorf("PortLines(%q) = %q, %v; want %q", tc.want, out, err, tc.out)
		}
	}
	if out, err := (&Container{ID: "x"}).PortLines(""); err != nil || len(out) != 0 {
		t.Errorf("no ports: %q, %v", out, err)
	}
}
