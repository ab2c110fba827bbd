package run

import (
	"fmt"
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

// DNS is docker's --dns, --dns-search and --dns-option. Each list that is not empty replaces that
// part of the resolv.conf the sandbox would get otherwise; the parts left come from it. The zero
// value changes nothing.
type DNS struct {
	Servers []string `json:"servers,omitempty"` // IP addresses
	Search  []string `json:"search,omitempty"`  // "." alone: no search line
	Options []string `json:"options,omitempty"` // ndots:2, rotate, ...
}

// IsZero reports whether d changes nothing.
func (d DNS) IsZero() bool { return len(d.Servers)+len(d.Search)+len(d.Options) == 0 }

// Check reports the first server that is not an IP address, in docker's words.
func (d DNS) Check() error {
	for _, s := range d.Servers {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("%s is not an ip address", s)
		}
	}
	return nil
}

// LoopbackServers are d's servers on a loopback address: docker warns that they "may fail in
// containers" (they do in a network namespace of the container's own).
func (d DNS) LoopbackServers() []string {
	var out []string
	for _, s := range d.Servers {
		if a, err := netip.ParseAddr(s); err == nil && a.IsLoopback() {
			out = append(out, s)
		}
	}
	return out
}

// withDNS is base (a resolv.conf) with d applied, written as docker's resolvconf.Build writes it:
// the search line, one nameserver line per server, the options line; comments and other lines of
// base are dropped. A part d leaves empty comes from base (its last search and options lines).
func withDNS(base []byte, d DNS) []byte {
	if d.IsZero() {
		return base
	}
	servers, search, options := d.Servers, d.Search, d.Options
	var baseServers, baseSearch, baseOptions []string
	for _, line := range strings.Split(string(base), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			baseServers = append(baseServers, f[1])
		case "search":
			baseSearch = f[1:]
		case "options":
			baseOptions = f[1:]
		}
	}
	if len(servers) == 0 {
		servers = baseServers
	}
	if len(search) == 0 {
		search = baseSearch
	}
	if len(options) == 0 {
		options = baseOptions
	}
	var b strings.Builder
	if s := strings.Join(search, " "); len(search) > 0 && strings.TrimSpace(s) != "." {
		b.WriteString("search " + s + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if s := strings.Join(options, " "); strings.TrimSpace(s) != "" {
		b.WriteString("options " + s + "\n")
	}
	return []byte(b.String())
}
