// Package rootless lets an ordinary user run hoist: builds, pulls, pushes and containers work the
// same as for root, inside a user namespace in which the user is root.
//
// # Design
//
// hoist has no daemon, yet everything a user does must happen in one user namespace: a container
// started by `hoist run -d` has to be reachable by a later `hoist exec`, and joining a user namespace
// with setns(2) is impossible for a multi-threaded process such as any Go program (podman and buildah
// do it in a cgo constructor before the Go runtime starts; hoist is built with CGO_ENABLED=0).
//
// So the namespace has a holder: the first hoist command of a user starts a small server process in
// a new user, mount and network namespace (the "rootless server", [ServerArg]), maps the user's id to
// root and its subordinate ids (/etc/subuid, /etc/subgid, through newuidmap/newgidmap) to 1..N, and
// connects the network namespace to the host through pasta or slirp4netns. Every hoist command of that
// user is then a thin client ([Forward]): it sends its arguments, environment, working directory,
// standard descriptors and its own executable (a descriptor) over a unix socket, and the server starts
// that executable with those descriptors inside the namespace, forwards signals and reports the exit
// status. Inside, hoist runs as root of the namespace and takes the same code paths as for real
// root, with storage under the user's XDG directories ([DataHome], [RuntimeDir]).
//
// The server never runs user code itself and holds no state but the namespaces: it exits when it has
// been idle for a while and no other process lives in its user namespace (a detached container keeps
// it alive). The client executable is passed by descriptor, so one server serves every hoist binary
// of the user (a rebuilt binary, the test suite's) and a newer client is never run as an older one.
package rootless

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ServerArg is os.Args[1] of the rootless server process.
const ServerArg = "__hoist_rootless"

// insideEnv marks a process started by the server inside the rootless namespaces.
const insideEnv = "_HOIST_ROOTLESS"

// Active reports whether this process runs inside the rootless namespaces (as their root).
func Active() bool { return os.Getenv(insideEnv) == "1" }

// Needed reports whether a command of this process must be forwarded into the rootless namespaces:
// the process is not root and not inside them yet.
func Needed() bool { return os.Geteuid() != 0 && !Active() }

// DataHome is where a rootless hoist keeps its storage by default: $XDG_DATA_HOME/hoist, or
// ~/.local/share/hoist.
func DataHome() string {
	if x := os.Getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "hoist")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = "/"
	}
	return filepath.Join(home, ".local", "share", "hoist")
}

// RuntimeDir is where a rootless hoist keeps its runtime state (the server's socket, network leases):
// $XDG_RUNTIME_DIR/hoist, or /tmp/hoist-run-UID when XDG_RUNTIME_DIR is unset (podman's fallback).
// Inside the namespaces the uid is 0, so the server passes the client's directory on ([runtimeEnv]).
func RuntimeDir() string {
	if d := os.Getenv(runtimeEnv); d != "" {
		return d
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "hoist")
	}
	return filepath.Join(os.TempDir(), "hoist-run-"+strconv.Itoa(os.Getuid()))
}

// runtimeEnv carries the client's RuntimeDir into the namespaces.
const runtimeEnv = "_HOIST_ROOTLESS_RUNTIME"

// ensureDir makes dir (mode 0700) and checks that it is the caller's own and private, so that
// another user cannot plant the socket a client connects to.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("rootless runtime directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("rootless runtime directory: %w", err)
	}
	st, ok := statOwner(fi)
	if !fi.IsDir() || !ok || st != os.Getuid() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("rootless runtime directory %s: must be a directory owned by uid %d with mode 0700", dir, os.Getuid())
	}
	return nil
}

func statOwner(fi os.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// Env is what a hoist process must pass on to a hoist process it starts with a clean environment
// (a container's monitor) so that the child knows it runs rootless; empty outside the namespaces.
func Env() []string {
	if !Active() {
		return nil
	}
	return []string{insideEnv + "=1", runtimeEnv + "=" + RuntimeDir()}
}
