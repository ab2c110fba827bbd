package cgroups

import "github.com/moby/sys/userns"

// Status is what the host's cgroups give hoist: the hierarchy's version and whether hoist can
// create a cgroup of its own there (limits, stats, the device filter, freezing).
type Status struct {
	Version   int    // 1 or 2; 0 without a usable hierarchy
	CanCreate bool   // Create works here
	Reason    string // why not, when !CanCreate
}

// Probe reports the host's cgroup status without creating anything.
func Probe() Status {
	var st Status
	if IsV2() {
		st.Version = 2
	} else if _, err := v1Mounts(); err == nil {
		st.Version = 1
	}
	switch {
	case st.Version == 0:
		st.Reason = ErrUnavailable.Error()
	case userns.RunningInUserNS() && st.Version == 1:
		st.Reason = "rootless: cgroup v1 gives an ordinary user no cgroups of its own"
	case userns.RunningInUserNS():
		st.Reason = "rootless: hoist does not use a delegated cgroup v2 subtree (systemd user slice) yet"
	default:
		st.CanCreate = true
	}
	return st
}
