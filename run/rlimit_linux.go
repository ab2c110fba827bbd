package run

import (
	"fmt"
	"os"
	"syscall"

	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"
)

// rlimitResources maps docker's ulimit names to RLIMIT_* numbers ("as" is
// left out, as docker does).
var rlimitResources = map[string]int{
	"core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// initRlimit is an Rlimit resolved for the init.
type initRlimit struct {
	Rlimit
	Resource int `json:"resource"`
}

// CheckRlimits reports, before anything runs, limits the sandbox could not
// set: an unknown name, a soft limit above the hard one, or a hard limit
// above this process's own when it lacks CAP_SYS_RESOURCE (only that
// capability may raise a hard limit; the kernel refuses with EPERM). Errors
// wrap ErrRlimit and name the limit as docker's --ulimit does.
func CheckRlimits(rl []Rlimit) error {
	_, err := resolveRlimits(rl)
	if err != nil {
		return err
	}
	canRaise := false
	if c, err := capability.NewPid2(0); err == nil && c.Load() == nil {
		canRaise = c.Get(capability.EFFECTIVE, capability.CAP_SYS_RESOURCE)
	}
	if canRaise {
		return nil
	}
	for _, r := range rl {
		var cur unix.Rlimit
		if err := unix.Getrlimit(rlimitResources[r.Name], &cur); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrRlimit, r.Name, err)
		}
		if cur.Max != unix.RLIM_INFINITY && (r.Hard == RlimInfinity || r.Hard > cur.Max) {
			return fmt.Errorf("%w: %s=%s:%s: the hard limit is above this process's (%s) and raising it needs CAP_SYS_RESOURCE, which hoist does not have",
				ErrRlimit, r.Name, rlimString(r.Soft), rlimString(r.Hard), rlimString(cur.Max))
		}
	}
	return nil
}

func resolveRlimits(rl []Rlimit) ([]initRlimit, error) {
	out := make([]initRlimit, 0, len(rl))
	for _, r := range rl {
		res, ok := rlimitResources[r.Name]
		if !ok {
			return nil, fmt.Errorf("%w: unknown resource %q", ErrRlimit, r.Name)
		}
		if r.Soft > r.Hard {
			return nil, fmt.Errorf("%w: %s: soft limit %s is above the hard limit %s", ErrRlimit, r.Name, rlimString(r.Soft), rlimString(r.Hard))
		}
		out = append(out, initRlimit{Rlimit: r, Resource: res})
	}
	return out, nil
}

// setRlimits applies the limits to the init itself. It uses the syscall
// package's Setrlimit, which also stops the Go runtime from restoring its
// own saved RLIMIT_NOFILE at exec.
func setRlimits(rl []initRlimit) error {
	for _, r := range rl {
		if err := syscall.Setrlimit(r.Resource, &syscall.Rlimit{Cur: r.Soft, Max: r.Hard}); err != nil {
			return fmt.Errorf("%w: setting %s=%s:%s: %w", ErrRlimit, r.Name, rlimString(r.Soft), rlimString(r.Hard),
				&os.SyscallError{Syscall: "setrlimit", Err: err})
		}
	}
	return nil
}

func rlimString(v uint64) string {
	if v == RlimInfinity {
		return "unlimited"
	}
	return fmt.Sprint(v)
}
