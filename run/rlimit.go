package run

import "errors"

// Rlimit is a resource limit of the sandbox's processes (docker's --ulimit):
// the init sets it with setrlimit(2) before it drops its capabilities, and
// the command inherits it.
type Rlimit struct {
	// Name is docker's name of the resource: core, cpu, data, fsize, locks,
	// memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime,
	// sigpending or stack.
	Name string `json:"name"`
	// Soft and Hard are the limits; RlimInfinity is "unlimited".
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

// RlimInfinity is the "unlimited" value of an Rlimit.
const RlimInfinity = ^uint64(0)

// ErrRlimit is wrapped by the error of [CheckRlimits] and of a sandbox start
// whose limits could not be set.
var ErrRlimit = errors.New("invalid ulimit")
