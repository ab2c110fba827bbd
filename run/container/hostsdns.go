package container

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/run/network"
)

// applyHostsAndDNS checks --add-host and --dns*, docker's way (the rules are run/network's and
// run's, shared with the builder's RUN steps).
func applyHostsAndDNS(cfg *Config, _ v1.Config, o CreateOptions) error {
	for _, h := range o.AddHosts {
		host, err := network.ParseHost(h)
		if err != nil {
			return fmt.Errorf("%w: invalid argument %q for \"--add-host\" flag: %w", ErrBadOption, h, err)
		}
		cfg.ExtraHosts = append(cfg.ExtraHosts, host)
	}
	cfg.DNS = o.DNS
	if err := cfg.DNS.Check(); err != nil {
		return fmt.Errorf("%w: invalid argument for \"--dns\" flag: %w", ErrBadOption, err)
	}
	if lo := cfg.DNS.LoopbackServers(); len(lo) > 0 && cfg.Network != "host" && o.Notes != nil {
		o.Notes(fmt.Sprintf("WARNING: Localhost DNS setting (--dns=%s) may fail in containers.", strings.Join(lo, ", --dns=")))
	}
	return nil
}

// hostsLines are the lines the container's /etc/hosts gets after the standard ones: --add-host
// entries in order, then (on the bridge) the container's own address, as docker writes them.
func hostsLines(c *Container, own string) []string {
	lines := network.HostLines(c.Config.ExtraHosts)
	if own != "" {
		lines = append(lines, own)
	}
	return lines
}
