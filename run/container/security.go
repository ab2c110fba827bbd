package container

import (
	"fmt"
	"os"
	"strings"

	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/cgroups"
)

// SecurityOptions are docker's --privileged, --cap-add, --cap-drop,
// --security-opt and --device (and --tmpfs, which applyMounts reads).
type SecurityOptions struct {
	Privileged  bool
	CapAdd      []string
	CapDrop     []string
	SecurityOpt []string // seccomp=unconfined|FILE, no-new-privileges[=BOOL], apparmor=..., label=..., systempaths=unconfined
	Devices     []string // --device HOST[:CONTAINER[:PERMS]]
	Tmpfs       []string // PATH[:OPTIONS]
}

// hostHasLSM reports whether the host kernel runs the named security module
// (apparmor, selinux): hoist applies no LSM profile, so a request for one on
// a host that enforces it must fail rather than be ignored.
var hostHasLSM = func(name string) bool {
	b, err := os.ReadFile("/sys/kernel/security/lsm")
	if err != nil {
		return false
	}
	for _, m := range strings.Split(strings.TrimSpace(string(b)), ",") {
		if m == name {
			return true
		}
	}
	return false
}

// securityFor validates o and turns it into the sandbox's Security, the
// device cgroup rules (docker's default plus an allow for each --device; nil,
// no device control, when privileged). Every error wraps ErrBadOption and names the flag. Notes
// are messages for the user about options that have no effect on this host
// (an AppArmor profile where the kernel has no AppArmor), as docker warns.
func securityFor(o SecurityOptions) (sec run.Security, rules []cgroups.DeviceRule, notes []string, err error) {
	sec = run.Security{Privileged: o.Privileged, CapAdd: o.CapAdd, CapDrop: o.CapDrop}
	if !o.Privileged {
		rules = cgroups.DefaultDeviceRules()
	}
	for _, spec := range o.Devices {
		devs, err := cgroups.ParseDevice(spec)
		if err != nil {
			return sec, nil, nil, fmt.Errorf("%w: --device %s: %w", ErrBadOption, spec, err)
		}
		for _, d := range devs {
			sec.Devices = append(sec.Devices, run.Device{Path: d.Path, HostPath: d.HostPath, Type: d.Type, Major: uint32(d.Major),
				Minor: uint32(d.Minor), Mode: uint32(d.FileMode.Perm()), UID: d.UID, GID: d.GID})
			if rules != nil {
				rules = append(rules, d.Rule())
			}
		}
	}
	if _, err := sec.Capabilities(); err != nil {
		return sec, nil, nil, fmt.Errorf("%w: %w", ErrBadOption, err)
	}
	for _, opt := range o.SecurityOpt {
		k, v, hasValue := strings.Cut(opt, "=")
		if !hasValue {
			// docker still accepts the old "key:value" form.
			k, v, hasValue = strings.Cut(opt, ":")
		}
		switch k {
		case "seccomp":
			switch {
			case v == "unconfined":
				sec.SeccompUnconfined, sec.SeccompProfile = true, nil
			case v == "":
				return sec, nil, nil, fmt.Errorf("%w: invalid --security-opt %q: no seccomp profile", ErrBadOption, opt)
			default:
				data, err := os.ReadFile(v)
				if err != nil {
					return sec, nil, nil, fmt.Errorf("%w: opening seccomp profile (%s) failed: %w", ErrBadOption, v, err)
				}
				if err := run.CheckSeccompProfile(data); err != nil {
					return sec, nil, nil, fmt.Errorf("%w: --security-opt seccomp=%s: %w", ErrBadOption, v, err)
				}
				sec.SeccompUnconfined, sec.SeccompProfile = false, data
			}
		case "no-new-privileges":
			switch v {
			case "", "true":
				sec.NoNewPrivileges = true
			case "false":
				sec.NoNewPrivileges = false
			default:
				return sec, nil, nil, fmt.Errorf("%w: invalid --security-opt 2: %q", ErrBadOption, opt)
			}
		case "apparmor", "label":
			lsm := map[string]string{"apparmor": "apparmor", "label": "selinux"}[k]
			if v == "" && k == "apparmor" {
				return sec, nil, nil, fmt.Errorf("%w: invalid --security-opt: %q", ErrBadOption, opt)
			}
			if hostHasLSM(lsm) && v != "unconfined" && v != "disable" {
				return sec, nil, nil, fmt.Errorf("%w: --security-opt %s: hoist does not apply %s profiles yet", ErrBadOption, opt, lsm)
			}
			notes = append(notes, fmt.Sprintf("WARNING: --security-opt %s has no effect: this host does not run %s", opt, lsm))
		case "systempaths":
			if v != "unconfined" {
				return sec, nil, nil, fmt.Errorf("%w: invalid --security-opt %q: systempaths takes only unconfined", ErrBadOption, opt)
			}
			sec.SystemPathsUnconfined = true
		default:
			if !hasValue {
				return sec, nil, nil, fmt.Errorf("%w: invalid --security-opt 1: %q", ErrBadOption, opt)
			}
			return sec, nil, nil, fmt.Errorf("%w: invalid --security-opt 2: %q", ErrBadOption, opt)
		}
	}
	return sec, rules, notes, nil
}
