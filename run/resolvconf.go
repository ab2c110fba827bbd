package run

import (
	"net/netip"
	"strings"
)

// systemdResolvConf lists systemd-resolved's upstream servers; /etc/resolv.conf then names its
// local stub, 127.0.0.53.
const systemdResolvConf = "/run/systemd/resolve/resolv.conf"

// defaultNameservers are docker's fallback when the host names only local resolvers.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// privateResolvConf adapts the host's resolv.conf to a sandbox with a network namespace of its own,
// where the host's loopback resolvers cannot be reached, as docker and BuildKit do: with
// systemd-resolved's stub (127.0.0.53) the upstream list (systemd, when readable) is used; loopback
// nameservers are dropped; when none is left, docker's defaults are added.
func privateResolvConf(host []byte, systemd func() ([]byte, error)) []byte {
	if strings.Contains(string(host), "127.0.0.53") {
		if b, err := systemd(); err == nil {
			host = b
		}
	}
	var out []string
	servers := 0
	for _, line := range strings.SplitAfter(string(host), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil && a.IsLoopback() {
				continue
			}
			servers++
		}
		out = append(out, line)
	}
	s := strings.Join(out, "")
	if servers == 0 {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		for _, ns := range defaultNameservers {
			s += "nameserver " + ns + "\n"
		}
	}
	return []byte(s)
}
