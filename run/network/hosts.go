package network

import (
	"fmt"
	"net/netip"
	"strings"
)

// Host is one extra /etc/hosts entry (docker's --add-host), for containers and RUN steps alike.
type Host struct {
	Name string
	// IP is an address, or HostGateway for the address of hoist's bridge (docker's "host-gateway").
	IP string
}

// HostGateway is the --add-host address that stands for the host as seen from hoist's bridge
// (docker's "host-gateway": the default bridge's gateway).
const HostGateway = "host-gateway"

// ParseHost parses one --add-host value: docker's host:ip (the ip possibly an IPv6 address, in
// brackets or not), the newer host=ip, or host-gateway for the ip. The address comes back in its
// canonical form. The error does not name the flag; callers do.
func ParseHost(s string) (Host, error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok {
		name, ip, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" || ip == "" || strings.ContainsAny(name, " \t") {
		return Host{}, fmt.Errorf("bad format for add-host: %q", s)
	}
	if ip != HostGateway {
		addr, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]"))
		if err != nil {
			return Host{}, fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
		ip = addr.String()
	}
	return Host{Name: name, IP: ip}, nil
}

// HostLines are the /etc/hosts lines of hosts, in order, as docker writes them ("IP\tNAME"), with
// HostGateway replaced by the bridge's address.
func HostLines(hosts []Host) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		ip := h.IP
		if ip == HostGateway {
			ip = Gateway
		}
		out = append(out, ip+"\t"+h.Name)
	}
	return out
}
