package container

import (
	"fmt"
	"strconv"
	"strings"
)

// ParsePorts parses one -p spec, [[ip:][hostPort]:]containerPort[/proto],
// with docker's ranges: a container port range publishes each port of it
// (80-81 → two ports), on the host range of the same size given with it
// (8000-8001:80-81 → 8000→80, 8001→81) or on free ports; a host range with a
// single container port publishes it on the first free port of the range
// (8000-8010:80). Any other combination of sizes is an error.
func ParsePorts(spec string) ([]Port, error) {
	bad := func(why string) ([]Port, error) {
		return nil, fmt.Errorf("%w: invalid port spec %q: %s", ErrBadOption, spec, why)
	}
	rest, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return bad("protocol must be tcp or udp")
	}
	var ip, host, ctr string
	parts := strings.Split(rest, ":")
	switch len(parts) {
	case 1:
		ctr = parts[0]
	case 2:
		host, ctr = parts[0], parts[1]
	case 3:
		ip, host, ctr = parts[0], parts[1], parts[2]
	default:
		return bad("too many colons")
	}
	ctrStart, ctrEnd, err := portRange(ctr)
	if err != nil {
		return bad("invalid containerPort: " + ctr)
	}
	var hostStart, hostEnd int
	if host != "" {
		if hostStart, hostEnd, err = portRange(host); err != nil {
			return bad("invalid hostPort: " + host)
		}
		// Sizes differ: allowed only for a single container port, which
		// then takes any free port of the host range.
		if hostEnd-hostStart != ctrEnd-ctrStart && ctrEnd != ctrStart {
			return bad(fmt.Sprintf("invalid ranges specified for container and host Ports: %s and %s", ctr, host))
		}
	}
	if ip != "" {
		if strings.Trim(ip, "0123456789.") != "" || strings.Count(ip, ".") != 3 {
			return bad("invalid host IP")
		}
	}
	var out []Port
	for i := 0; i <= ctrEnd-ctrStart; i++ {
		p := Port{HostIP: ip, ContainerPort: ctrStart + i, Proto: proto}
		switch {
		case host == "":
		case ctrEnd == ctrStart && hostEnd > hostStart:
			p.HostPort, p.HostPortEnd = hostStart, hostEnd
		default:
			p.HostPort = hostStart + i
		}
		out = append(out, p)
	}
	return out, nil
}

// portRange parses "N" or "N-M" (1 ≤ N ≤ M ≤ 65535).
func portRange(s string) (start, end int, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if start, err = portNumber(lo); err != nil {
		return 0, 0, err
	}
	end = start
	if isRange {
		if end, err = portNumber(hi); err != nil {
			return 0, 0, err
		}
	}
	if start == 0 || end < start {
		return 0, 0, fmt.Errorf("bad port range %q", s)
	}
	return start, end, nil
}

func portNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return n, nil
}

// PortLines are docker port's output for c: with want "" every published port as
// "80/tcp -> 0.0.0.0:8080"; with want ("80" is "80/tcp", or "53/udp") the host addresses that
// container port is published on ("0.0.0.0:8080"). A want that is not published is an error
// naming it and the container.
func (c *Container) PortLines(want string) ([]string, error) {
	if want != "" && !strings.Contains(want, "/") {
		want += "/tcp"
	}
	var out []string
	for _, p := range c.State.Ports {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Proto)
		switch {
		case want == "":
			out = append(out, fmt.Sprintf("%s -> %s:%d", key, p.HostIP, p.HostPort))
		case key == want:
			out = append(out, fmt.Sprintf("%s:%d", p.HostIP, p.HostPort))
		}
	}
	if want != "" && len(out) == 0 {
		return nil, fmt.Errorf("no public port '%s' published for %s", want, shortID(c.ID))
	}
	return out, nil
}

// shortID is docker's 12-character short form of a container ID.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
