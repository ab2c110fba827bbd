// Package run is hoist's sandbox: it runs one command inside a root
// filesystem with its own mount, pid, uts and ipc namespaces (and optionally
// its own network namespace), without runc or any daemon.
//
// hoist re-executes its own binary as the container's init process. The
// program's main (and every TestMain of a package that calls [Run]) must call
// [MaybeInit] before doing anything else; in the re-executed child it sets up
// the sandbox and execs the user's command, which becomes PID 1 of the new
// pid namespace.
//
// The package is Linux-only; on other systems [Run] returns
// errors.ErrUnsupported and [MaybeInit] does nothing.
package run

import (
	"errors"
	"io"
)

// InitArg is os.Args[1] of the re-executed child. [MaybeInit] recognises it.
const InitArg = "__hoist_init"

// DefaultHostname is the hostname used when [Spec.Hostname] is empty.
const DefaultHostname = "hoist"

// NetworkMode selects the network namespace of the sandbox.
type NetworkMode string

const (
	// NetworkHost shares the caller's network namespace (the default for builds).
	NetworkHost NetworkMode = "host"
	// NetworkNone gives the sandbox its own empty network namespace in which
	// only the loopback interface exists (and is up).
	NetworkNone NetworkMode = "none"
)

// Mount is an extra mount made inside the sandbox after the standard ones
// (/proc, /sys, /dev, /etc/hosts, ...), in the order given, so a mount may
// cover a standard one.
type Mount struct {
	// Type is "bind" or "tmpfs".
	Type string
	// Source is the host path for "bind" (it must exist; a file is bound onto
	// a file, a directory onto a directory); it is ignored for "tmpfs".
	Source string
	// Target is the absolute path inside the rootfs. Symlinks in it are
	// resolved inside the rootfs. If it does not exist it is created for the
	// duration of the run and removed afterwards.
	Target string
	// ReadOnly makes the mount read-only.
	ReadOnly bool
	// Options are mount(8)-style options: ro, rw, nosuid, suid, nodev, dev,
	// noexec, exec, noatime, nodiratime, relatime, strictatime, and for bind
	// mounts bind (non-recursive) or rbind (recursive, the default). Any
	// other option of a tmpfs mount (size=64m, mode=1777, ...) is passed to
	// the kernel as mount data; for a bind mount it is an error.
	Options []string
}

// Spec describes one sandboxed command. A Spec is a plain value: Run does not
// modify it or keep it.
type Spec struct {
	// Rootfs is an existing directory (usually an overlay mount made by the
	// caller) that becomes "/". Run leaves it as it found it except for what
	// the command itself changed: mount points it had to create are removed
	// again and their parents' timestamps restored.
	Rootfs string
	// Args is the argv of the command. Args[0] without a '/' is looked up in
	// the PATH of Env, inside the rootfs (the Docker default PATH when Env has
	// no PATH).
	Args []string
	// Env is exactly the environment of the command, except that HOME is
	// added from the user's passwd entry ("/" without one) when Env has none,
	// as docker does.
	Env []string
	// Cwd is the absolute working directory inside the rootfs; it must exist.
	// Empty means "/".
	Cwd string
	// User is "", "name", "uid", "name:group", "uid:gid", ... resolved from the
	// rootfs's /etc/passwd and /etc/group. Numeric ids need no entry. The
	// supplementary groups are the user's /etc/group memberships plus its
	// primary group. Empty means root.
	User string
	// Hostname is the sandbox's hostname; empty means [DefaultHostname].
	Hostname string
	// Network is the network mode; empty means [NetworkHost].
	Network NetworkMode
	// Mounts are the extra mounts, made in order.
	Mounts []Mount
	// ReadOnlyRootfs remounts "/" read-only inside the sandbox.
	ReadOnlyRootfs bool
	// StateDir is where Run keeps the files it generates for the sandbox (hosts, resolv.conf,
	// hostname) while it runs; empty means os.TempDir(). Callers that can be killed should pass a
	// directory they clean up themselves.
	StateDir string
}

// IO is the standard I/O of the command. A nil Stdin reads /dev/null, a nil
// Stdout or Stderr discards. *os.File values are given to the command as
// they are. Writers that are not *os.File are fed by goroutines, and Run
// returns only after all output has been written to them. A Stdin that is not
// an *os.File is copied by a goroutine that Run does not wait for: Run returns
// when the command exits even if Stdin never ends (the goroutine ends at the
// next Read that returns). Run never closes any of them.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ErrInvalidSpec is wrapped by the error Run returns when the Spec is
// malformed (no Args, relative paths, unknown network mode or mount type).
var ErrInvalidSpec = errors.New("invalid sandbox spec")

// InitError is the error Run returns when the sandbox's init process failed
// before it could exec the command: a setup step, an unknown user, a missing
// working directory, or an executable that was not found.
type InitError struct {
	// Msg is the init's message, verbatim; for example
	// `exec: "foo": executable file not found in $PATH` or
	// `unable to find user bob: no matching entries in passwd file`.
	Msg string
	// Cause, when not nil, is the well-known error behind Msg:
	// exec.ErrNotFound, user.ErrNoPasswdEntries or user.ErrNoGroupEntries.
	Cause error
}

// Error returns e.Msg.
func (e *InitError) Error() string { return e.Msg }

// Unwrap returns e.Cause, so errors.Is(err, exec.ErrNotFound) works.
func (e *InitError) Unwrap() error { return e.Cause }

var _ error = (*InitError)(nil)
