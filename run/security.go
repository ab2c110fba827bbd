package run

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/sys/capability"
)

// Security is what a sandboxed command may do beyond its namespaces. The
// zero value is docker's default for `docker run` (and BuildKit's for a RUN
// step): the 14 default capabilities (none for a non-root user), docker's
// default seccomp profile, the masked and read-only paths of
// [DefaultMaskedPaths] and [DefaultReadonlyPaths], a read-only /sys with a
// read-only cgroupfs of the sandbox's own cgroup namespace, and only the
// device nodes of [defaultDevices] in /dev.
type Security struct {
	// Privileged is docker's --privileged: every capability, no seccomp
	// filter, no masked or read-only paths, a writable /sys and /proc/sys,
	// and every device node of the host's /dev. CapAdd, CapDrop and the
	// seccomp fields are ignored.
	Privileged bool `json:"privileged,omitempty"`
	// CapAdd and CapDrop change the default capability set as docker's
	// --cap-add and --cap-drop do: names in any case with or without the
	// CAP_ prefix, or "ALL". See [Capabilities].
	CapAdd  []string `json:"capAdd,omitempty"`
	CapDrop []string `json:"capDrop,omitempty"`
	// SeccompUnconfined installs no seccomp filter
	// (--security-opt seccomp=unconfined).
	SeccompUnconfined bool `json:"seccompUnconfined,omitempty"`
	// SeccompProfile is a profile in docker's JSON format
	// (--security-opt seccomp=FILE); nil means docker's default profile.
	SeccompProfile []byte `json:"seccompProfile,omitempty"`
	// NoNewPrivileges sets no_new_privs before the exec
	// (--security-opt no-new-privileges): setuid binaries and file
	// capabilities then grant nothing.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
	// SystemPathsUnconfined leaves /proc and /sys unmasked and writable
	// where the default masks them or makes them read-only
	// (--security-opt systempaths=unconfined).
	SystemPathsUnconfined bool `json:"systemPathsUnconfined,omitempty"`
	// Devices are host devices made available inside (--device). The caller
	// must also allow them in the sandbox's device cgroup.
	Devices []Device `json:"devices,omitempty"`
}

// Device is a device node created in the sandbox's /dev (docker's --device).
type Device struct {
	// Path is the absolute path inside the sandbox, under /dev.
	Path string `json:"path"`
	// HostPath is the host's node, bind-mounted where mknod is not allowed (in a user namespace:
	// rootless hoist); "" means Path.
	HostPath string `json:"host_path,omitempty"`
	// Type is 'c' (character) or 'b' (block).
	Type  rune   `json:"type"`
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
	// Mode holds the permission bits of the node.
	Mode uint32 `json:"mode"`
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
}

// DefaultMaskedPaths are hidden from the sandbox as docker hides them: a file
// is covered by /dev/null, a directory by an empty read-only tmpfs.
var DefaultMaskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// DefaultReadonlyPaths are made read-only inside the sandbox, as docker does.
var DefaultReadonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// DefaultCapabilities is docker's default capability set for root.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
	"CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// ErrUnknownCapability is wrapped by the error of [Capabilities] for a name
// that is no capability.
var ErrUnknownCapability = fmt.Errorf("unknown capability")

// capByName maps "CAP_CHOWN" to its number for every capability this
// library knows (the running kernel may know fewer: [AllCapabilities]).
var capByName = func() map[string]capability.Cap {
	m := map[string]capability.Cap{}
	for _, c := range capability.ListKnown() {
		m["CAP_"+strings.ToUpper(c.String())] = c
	}
	return m
}()

// normalizeCap turns "sys_admin", "SYS_ADMIN" or "cap_sys_admin" into
// "CAP_SYS_ADMIN", and keeps "ALL".
func normalizeCap(name string) (string, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "ALL" {
		return n, nil
	}
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if _, ok := capByName[n]; !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownCapability, name)
	}
	return n, nil
}

// AllCapabilities lists every capability the running kernel knows and this
// process may grant: those in its bounding set (a host, or an outer
// container, may hold fewer than all).
func AllCapabilities() []string {
	last, err := capability.LastCap()
	own, oerr := capability.NewPid2(0)
	if oerr == nil {
		oerr = own.Load()
	}
	var out []string
	for _, c := range capability.ListKnown() {
		if err == nil && c > last {
			continue
		}
		if oerr == nil && !own.Get(capability.BOUNDING, c) {
			continue
		}
		out = append(out, "CAP_"+strings.ToUpper(c.String()))
	}
	return out
}

// Capabilities returns the capability set of s, computed as docker does
// (moby's TweakCapabilities): privileged gives all; "ALL" in CapAdd gives
// all but CapDrop; "ALL" in CapDrop gives only CapAdd; otherwise the
// default set minus CapDrop plus CapAdd. An unknown name is an error
// wrapping ErrUnknownCapability.
func (s Security) Capabilities() ([]string, error) {
	if s.Privileged {
		return AllCapabilities(), nil
	}
	norm := func(names []string) ([]string, error) {
		out := make([]string, 0, len(names))
		for _, n := range names {
			c, err := normalizeCap(n)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	}
	add, err := norm(s.CapAdd)
	if err != nil {
		return nil, err
	}
	drop, err := norm(s.CapDrop)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case slices.Contains(add, "ALL"):
		for _, c := range AllCapabilities() {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	case slices.Contains(drop, "ALL"):
		caps = add
	default:
		for _, c := range DefaultCapabilities {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		caps = append(caps, add...)
	}
	slices.Sort(caps)
	return slices.Compact(caps), nil
}

// capMask turns capability names (already validated) into a bit mask.
func capMask(names []string) uint64 {
	var m uint64
	for _, n := range names {
		if c, ok := capByName[n]; ok && c < 64 {
			m |= 1 << uint(c)
		}
	}
	return m
}
