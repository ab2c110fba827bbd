package commands

import (
	"fmt"

	units "github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/network"
)

// runFlags are docker build's flags for the RUN sandbox.
type runFlags struct {
	network           string
	addHosts, ulimits []string
	allow             []string
	shmSize           string
	rm, forceRm       bool // docker's; no-ops: RUN sandboxes never outlive their step
}

func (r *runFlags) add(f *pflag.FlagSet) {
	f.StringVar(&r.network, "network", "default", "network mode of RUN steps: default (own namespace, outbound NAT), host or none")
	f.StringArrayVar(&r.addHosts, "add-host", nil, "add a host:ip line to /etc/hosts of RUN steps (ip may be host-gateway)")
	f.StringVar(&r.shmSize, "shm-size", "", "size of /dev/shm in RUN steps (default 64m)")
	f.StringArrayVar(&r.ulimits, "ulimit", nil, "resource limit of RUN steps: name=soft[:hard], e.g. nofile=1024:2048")
	f.StringArrayVar(&r.allow, "allow", nil, "grant an entitlement: security.insecure (RUN --security=insecure) or network.host")
	f.BoolVar(&r.rm, "rm", true, "no-op, for docker compatibility: nothing is left after a RUN")
	f.BoolVar(&r.forceRm, "force-rm", false, "no-op, for docker compatibility: nothing is left after a RUN, even a failed one")
}

// options checks the flags and turns them into the builder's.
func (r *runFlags) options() (builder.RunOptions, error) {
	o := builder.RunOptions{Network: r.network}
	switch r.network {
	case "default", "host", "none":
	default:
		return o, fmt.Errorf("--network: unsupported mode %q (default, host or none)", r.network)
	}
	for _, h := range r.addHosts {
		host, err := network.ParseHost(h)
		if err != nil {
			return o, fmt.Errorf("--add-host: %w", err)
		}
		o.ExtraHosts = append(o.ExtraHosts, host)
	}
	if r.shmSize != "" {
		n, err := units.RAMInBytes(r.shmSize)
		if err != nil || n < 0 {
			return o, fmt.Errorf("--shm-size: invalid size %q", r.shmSize)
		}
		o.ShmSize = n
	}
	ul, err := run.ParseUlimits(r.ulimits)
	if err != nil {
		return o, err
	}
	o.Ulimits = ul
	if err := run.CheckRlimits(o.Ulimits); err != nil {
		return o, fmt.Errorf("--ulimit: %w", err)
	}
	for _, a := range r.allow {
		switch a {
		case builder.EntitlementSecurityInsecure, builder.EntitlementNetworkHost:
			o.Allow = append(o.Allow, a)
		default:
			return o, fmt.Errorf("--allow: invalid entitlement %q (security.insecure, network.host)", a)
		}
	}
	return o, nil
}
