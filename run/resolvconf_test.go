package run

import (
	"errors"
	"testing"
)

func TestPrivateResolvConf(t *testing.T) {
	upstream := func() ([]byte, error) { return []byte("nameserver 192.0.2.53\n"), nil }
	none := func() ([]byte, error) { return nil, errors.New("no systemd-resolved") }
	tests := []struct {
		name, host string
		systemd    func() ([]byte, error)
		want       string
	}{
		{"kept", "search lan\nnameserver 10.255.255.53\n", none, "search lan\nnameserver 10.255.255.53\n"},
		{"systemd stub", "nameserver 127.0.0.53\noptions edns0\n", upstream, "nameserver 192.0.2.53\n"},
		{"loopback dropped", "nameserver 127.0.0.1\nnameserver 10.0.0.1\n", none, "nameserver 10.0.0.1\n"},
		{"only loopback", "nameserver ::1\nsearch x", none, "search x\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{"empty", "", none, "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
	}
	for _, tc := range tests {
		if got := string(privateResolvConf([]byte(tc.host), tc.systemd)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The expectations are what docker 20.10 wrote into a busybox container on the reference host, whose
// resolv.conf is "nameserver 10.255.255.53" (docker run --network none|host --dns ... cat
// /etc/resolv.conf); the host's search and options lines come from docker's resolvconf.Build rules.
func TestWithDNS(t *testing.T) {
	host := "# generated\nsearch lan corp\nnameserver 10.255.255.53\noptions edns0\n"
	tests := []struct {
		name, base string
		dns        DNS
		want       string
	}{
		{"nothing", host, DNS{}, host},
		{"all three", "nameserver 10.255.255.53\n", DNS{Servers: []string{"9.9.9.9"}, Search: []string{"example.com"}, Options: []string{"ndots:2"}},
			"search example.com\nnameserver 9.9.9.9\noptions ndots:2\n"},
		{"servers only", "nameserver 10.255.255.53\n", DNS{Servers: []string{"9.9.9.9"}}, "nameserver 9.9.9.9\n"},
		{"search only", "nameserver 10.255.255.53\n", DNS{Search: []string{"a.com", "b.com"}}, "search a.com b.com\nnameserver 10.255.255.53\n"},
		{"options only", "nameserver 10.255.255.53\n", DNS{Options: []string{"ndots:3", "rotate"}}, "nameserver 10.255.255.53\noptions ndots:3 rotate\n"},
		{"search dot", "nameserver 10.255.255.53\n", DNS{Search: []string{"."}}, "nameserver 10.255.255.53\n"},
		{"loopback kept", "nameserver 10.255.255.53\n", DNS{Servers: []string{"::1", "127.0.0.1"}}, "nameserver ::1\nnameserver 127.0.0.1\n"},
		{"host's parts kept", host, DNS{Servers: []string{"1.1.1.1"}}, "search lan corp\nnameserver 1.1.1.1\noptions edns0\n"},
		{"no base", "# network none: no name servers\n", DNS{Search: []string{"x"}}, "search x\n"},
	}
	for _, tc := range tests {
		if got := string(withDNS([]byte(tc.base), tc.dns)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDNSCheck(t *testing.T) {
	if err := (DNS{Servers: []string{"9.9.9.9", "::1"}}).Check(); err != nil {
		t.Errorf("valid servers: %v", err)
	}
	// docker: invalid argument "1.2.3" for "--dns" flag: 1.2.3 is not an ip address
	if err := (DNS{Servers: []string{"1.2.3"}}).Check(); err == nil || err.Error() != "1.2.3 is not an ip address" {
		t.Errorf("Check(1.2.3) = %v", err)
	}
	if got := (DNS{Servers: []string{"9.9.9.9", "::1", "127.0.0.11"}}).LoopbackServers(); len(got) != 2 {
		t.Errorf("LoopbackServers = %q", got)
	}
}
