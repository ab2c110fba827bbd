package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/cgroups"
	"github.com/hoistbuild/hoist/run/network"
)

// RunOptions are the build-wide settings of RUN steps' sandboxes.
type RunOptions struct {
	// Network is the network mode of RUN steps without their own --network: "default" (or "": a
	// network namespace of its own on hoist's bridge with outbound NAT, as docker build's default
	// network), "host" or "none".
	Network string
	// ExtraHosts are added to every RUN step's /etc/hosts (--add-host).
	ExtraHosts []Host
	// ShmSize is the size of /dev/shm in RUN steps, in bytes (0: 64 MiB).
	ShmSize int64
	// Ulimits are the resource limits of RUN steps (--ulimit).
	Ulimits []run.Rlimit
	// Allow lists the granted entitlements (--allow): EntitlementSecurityInsecure lets
	// `RUN --security=insecure` run privileged; EntitlementNetworkHost is accepted (a rootful build
	// may use the host network anyway).
	Allow []string
}

// Host is one --add-host entry; network owns the rule (containers share it).
type Host = network.Host

// HostGateway is the --add-host value that stands for the host as RUN steps on the default network
// reach it.
const HostGateway = network.HostGateway

// Entitlements, as BuildKit names them.
const (
	EntitlementNetworkHost      = "network.host"
	EntitlementSecurityInsecure = "security.insecure"
)

// Network modes of RUN.
const (
	networkDefault = "default"
	networkHost    = "host"
	networkNone    = "none"
)

// ErrNotEntitled is wrapped by the error of a step that needs an entitlement the build was not given.
var ErrNotEntitled = errors.New("is not allowed")

// stepNetwork is the network mode of a RUN step: its own --network, else the build's (BuildKit: an
// instruction's mode wins; "default" defers to the build's).
func stepNetwork(step, build string) (string, error) {
	n := step
	if n == "" || n == networkDefault {
		n = build
	}
	switch n {
	case "", networkDefault:
		return networkDefault, nil
	case networkHost, networkNone:
		return n, nil
	}
	return "", fmt.Errorf("unsupported network mode %q (default, host or none)", n)
}

// runResources are the cgroup settings of a RUN step: no limits, and docker's device allow-list
// (mknod of anything, open of null, zero, tty, ...), except for a privileged step (RUN
// --security=insecure), which may open every device, as docker's --privileged.
func runResources(privileged bool) cgroups.Resources {
	if privileged {
		return cgroups.Resources{}
	}
	return cgroups.Resources{Devices: cgroups.DefaultDeviceRules()}
}

// runSandbox runs spec as one RUN step: in a cgroup of its own (killed as a whole and removed
// afterwards, even when ctx is cancelled) and, for the default network, with an address on hoist's
// bridge, a veth moved into its network namespace and the host's resolv.conf; the address is freed
// and the veth removed when it returns. mode is the step's network mode (stepNetwork).
func runSandbox(ctx context.Context, spec run.Spec, mode string, stdio run.IO) (code int, err error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return -1, err
	}
	id := hex.EncodeToString(rnd[:])
	self := os.Getpid()
	holder := fmt.Sprintf("%d-%d", self, network.ProcessStart(self))
	removeStaleCgroups()
	// The name says who made it, so a cgroup a killed build left behind can be told from one in use.
	cg, err := cgroups.CreateOrNone(cgroupPrefix+holder+"-"+id, runResources(spec.Security.Privileged))
	if err != nil {
		return -1, fmt.Errorf("creating the RUN cgroup: %w", err)
	}
	defer func() {
		if derr := cg.Destroy(); derr != nil && err == nil {
			err = derr
		}
	}()
	var lease *network.Lease
	switch mode {
	case networkHost:
		spec.Network = run.NetworkHost
	case networkNone:
		spec.Network = run.NetworkNone
	default:
		// "rn": a RUN step's host veth (veth + the first 8 characters) never looks like a
		// container's (veth + 8 hex digits of its ID).
		lease, err = network.Allocate(ctx, "rn"+id, strings.Replace(holder, "-", " ", 1))
		if err != nil {
			return -1, fmt.Errorf("RUN network: %w", err)
		}
		defer func() {
			if rerr := lease.Release(); rerr != nil && err == nil {
				err = rerr
			}
		}()
		spec.Network = run.NetworkPrivate
		spec.Interface = &run.Interface{Name: "eth0", Address: lease.IP, PrefixLen: lease.PrefixLen, Gateway: lease.Gateway}
	}
	spec.Prestart = cg.Add
	if lease != nil {
		spec.AttachNetwork = func(pid int) error {
			if err := lease.Attach(ctx, pid); err != nil {
				return fmt.Errorf("RUN network: %w", err)
			}
			return nil
		}
	}
	return run.Run(ctx, spec, stdio)
}

// cgroupPrefix starts the cgroup id of every RUN step: build-<pid>-<start time>-<random>.
const cgroupPrefix = "build-"

// removeStaleCgroups removes the RUN cgroups whose build process is gone (killed: a build removes its
// own). Best effort: a cgroup it cannot remove is left for the next try.
func removeStaleCgroups() {
	ids, err := cgroups.List(cgroupPrefix)
	if err != nil {
		return
	}
	for _, id := range ids {
		f := strings.SplitN(strings.TrimPrefix(id, cgroupPrefix), "-", 3)
		if len(f) != 3 {
			continue
		}
		pid, _ := strconv.Atoi(f[0])
		start, _ := strconv.ParseUint(f[1], 10, 64)
		if pid > 0 && network.ProcessStart(pid) == start {
			continue
		}
		if cg, err := cgroups.Create(id, cgroups.Resources{}); err == nil {
			_ = cg.Destroy()
		}
	}
}

// checkEntitled fails unless the build was granted entitlement e.
func (o RunOptions) checkEntitled(e string) error {
	for _, a := range o.Allow {
		if strings.EqualFold(a, e) {
			return nil
		}
	}
	return fmt.Errorf("%s %w (give --allow %s)", e, ErrNotEntitled, e)
}

// runKey adds the sandbox settings that can change what a RUN step makes to its key, as BuildKit
// keys them (ExecOp meta): privileged, the extra hosts' names (not their addresses), the /dev/shm
// size and the ulimits. Each is added only when set, so the keys of steps that use none stay what
// they were before these settings existed. The network mode is keyed by the caller.
func runKey(kb *cache.KeyBuilder, o RunOptions, insecure bool) {
	if insecure {
		kb.String("security", "insecure")
	}
	if len(o.ExtraHosts) > 0 {
		names := make([]string, 0, len(o.ExtraHosts))
		for _, h := range o.ExtraHosts {
			names = append(names, h.Name)
		}
		kb.Strings("hosts", names)
	}
	if o.ShmSize > 0 {
		kb.String("shm-size", strconv.FormatInt(o.ShmSize, 10))
	}
	if len(o.Ulimits) > 0 {
		ul := make([]string, 0, len(o.Ulimits))
		for _, u := range o.Ulimits {
			ul = append(ul, fmt.Sprintf("%s=%d:%d", u.Name, u.Soft, u.Hard))
		}
		kb.Strings("ulimits", ul)
	}
}

// hostLines are the /etc/hosts lines of the extra hosts.
func hostLines(hosts []Host) []string { return network.HostLines(hosts) }
