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
