// Package network connects containers: a host bridge (hoist0, 10.89.0.0/16)
// with one veth pair per container and NAT for outbound traffic (root only),
// and published ports through a userland proxy like docker-proxy.
//
// The bridge and the NAT rule are created on first use and kept, as docker
// keeps docker0. Addresses are leased from files under StateDir, one per
// address, naming the process that holds the lease; a lease whose holder is
// dead is free again, so a killed monitor never leaks an address. A veth
// disappears with the container's network namespace.
package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/rootless"
)

// Bridge settings.
const (
	BridgeName = "hoist0"
	Gateway    = "10.89.0.1"
	PrefixLen  = 16
	subnet     = "10.89.0.0/16"
)

// StateDir holds the address leases; it is per host, not per hoist root,
// because the bridge is. A rootless hoist has a bridge of its own, in the
// network namespace of its rootless server, and keeps the leases in the
// user's runtime directory.
var StateDir = defaultStateDir()

func defaultStateDir() string {
	if rootless.Active() {
		return filepath.Join(rootless.RuntimeDir(), "network")
	}
	return "/run/hoist/network"
}

// Lease is one container's address on the bridge.
type Lease struct {
	IP, Gateway string
	PrefixLen   int
	HostVeth    string
	// MAC is the container end's hardware address, derived from IP (MACFor).
	MAC  string
	file string
}

// MACFor is the hardware address of the container interface that has address ip, docker's rule:
// 02:42 (locally administered, unicast) followed by the four bytes of the IPv4 address. A container
// that gets an address another container had keeps that container's MAC, so the host's neighbour
// cache entry for the address stays right; with a random MAC the host would keep sending to the old
// one until the entry goes stale (about 5 s unreachable). It returns "" for anything but IPv4.
func MACFor(ip string) string {
	v4 := net.ParseIP(ip).To4()
	if v4 == nil {
		return ""
	}
	return net.HardwareAddr{0x02, 0x42, v4[0], v4[1], v4[2], v4[3]}.String()
}

// run runs an ip(8)/iptables(8) command and returns its combined output in the error.
func run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, sbinPath(name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// linkExists reports whether this network namespace has the interface name. It asks the kernel
// (netlink), not /sys/class/net, which shows the namespace of whoever mounted /sys: in a rootless
// hoist's network namespace that is the host's.
func linkExists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

// sbinPath finds an administration tool (iptables) also where an ordinary user's PATH does not
// look: a rootless hoist is root in its user namespace, with the user's environment.
func sbinPath(name string) string {
	if _, err := exec.LookPath(name); err == nil {
		return name
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(d, name); unix.Access(p, unix.X_OK) == nil {
			return p
		}
	}
	return name
}

// lockFile takes the exclusive lock on StateDir/name (released by the returned function).
func lockFile(name string) (func(), error) {
	if err := os.MkdirAll(StateDir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(StateDir, name), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// ensureBridge creates hoist0 when missing and turns on forwarding; the NAT rule is ensureNAT's.
func ensureBridge(ctx context.Context) error {
	if !linkExists(BridgeName) {
		if err := run(ctx, "ip", "link", "add", BridgeName, "type", "bridge"); err != nil {
			return fmt.Errorf("creating bridge: %w", err)
		}
		if err := run(ctx, "ip", "addr", "add", Gateway+"/"+strconv.Itoa(PrefixLen), "dev", BridgeName); err != nil {
			return fmt.Errorf("creating bridge: %w", err)
		}
		if err := run(ctx, "ip", "link", "set", BridgeName, "up"); err != nil {
			return fmt.Errorf("creating bridge: %w", err)
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil && strings.TrimSpace(string(b)) != "1" {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0); err != nil {
			return fmt.Errorf("enabling ip forwarding: %w", err)
		}
	}
	return nil
}

// natChecked is set once this process has seen the NAT rule in place: a build's later RUN steps
// need not ask iptables again (a rule deleted while the build runs is not put back, as a daemon
// does not put back rules deleted while it runs).
var natChecked atomic.Bool

// ensureNAT adds the masquerading rule for the bridge's subnet unless it is there. The check and the
// addition hold a lock of their own, so that two hoist processes do not both add it.
func ensureNAT(ctx context.Context) error {
	if natChecked.Load() {
		return nil
	}
	unlock, err := lockFile(".nat.lock")
	if err != nil {
		return fmt.Errorf("locking network state: %w", err)
	}
	defer unlock()
	rule := []string{"POSTROUTING", "-s", subnet, "!", "-o", BridgeName, "-j", "MASQUERADE"}
	if run(ctx, "iptables", append([]string{"-w", "-t", "nat", "-C"}, rule...)...) != nil {
		if err := run(ctx, "iptables", append([]string{"-w", "-t", "nat", "-A"}, rule...)...); err != nil {
			return fmt.Errorf("adding the NAT rule: %w", err)
		}
	}
	natChecked.Store(true)
	return nil
}

// Allocate makes sure the bridge exists and leases a free address to
// holder (the process that will release it: its "pid start" identity).
func Allocate(ctx context.Context, id, holder string) (*Lease, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("bridge networking needs root (use --network=none or host)")
	}
	unlock, err := lockFile(".lock")
	if err != nil {
		return nil, fmt.Errorf("locking network state: %w", err)
	}
	defer unlock()
	if err := ensureBridge(ctx); err != nil {
		return nil, err
	}
	base := net.ParseIP(Gateway).To4()
	for n := 2; n < 1<<(32-PrefixLen)-1; n++ {
		ip := net.IPv4(base[0], base[1], byte(n>>8), byte(n&0xff)).String()
		f := filepath.Join(StateDir, ip)
		if data, err := os.ReadFile(f); err == nil {
			if holderAlive(strings.Fields(string(data))) {
				continue
			}
			os.Remove(f)
		}
		if err := os.WriteFile(f, []byte(holder+" "+id+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("leasing %s: %w", ip, err)
		}
		return &Lease{IP: ip, Gateway: Gateway, PrefixLen: PrefixLen, HostVeth: "veth" + id[:8], MAC: MACFor(ip), file: f}, nil
	}
	return nil, errors.New("no free address on " + BridgeName)
}

// holderAlive reports whether the "pid start" holder still runs.
func holderAlive(f []string) bool {
	if len(f) < 2 {
		return false
	}
	pid, _ := strconv.Atoi(f[0])
	start, _ := strconv.ParseUint(f[1], 10, 64)
	return pid > 0 && ProcessStart(pid) == start
}

// ProcessStart returns the start time (clock ticks since boot) of pid, 0
// if it does not exist: with the pid it names a process across pid reuse.
func ProcessStart(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// Attach creates the veth pair, with "eth0" (hardware address l.MAC) in the network namespace of
// pid and the host end on the bridge, and makes sure of the NAT rule meanwhile (two programs, run
// side by side).
func (l *Lease) Attach(ctx context.Context, pid int) error {
	nat := make(chan error, 1)
	go func() { nat <- ensureNAT(ctx) }()
	err := l.attach(ctx, pid)
	if nerr := <-nat; err == nil {
		err = nerr
	}
	return err
}

func (l *Lease) attach(ctx context.Context, pid int) error {
	peer := []string{"name", "eth0"}
	if l.MAC != "" {
		peer = append(peer, "address", l.MAC)
	}
	args := append([]string{"link", "add", "name", l.HostVeth, "master", BridgeName, "up", "type", "veth", "peer"}, peer...)
	return run(ctx, "ip", append(args, "netns", strconv.Itoa(pid))...)
}

// Release deletes the host veth if it is still there and frees the address.
func (l *Lease) Release() error {
	if linkExists(l.HostVeth) {
		_ = run(context.Background(), "ip", "link", "del", l.HostVeth)
	}
	if err := os.Remove(l.file); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
