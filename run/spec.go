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
// The package is Linux-only, like the rest of hoist (the tree builds for
// Linux only).
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
	// NetworkHost shares the caller's network namespace.
	NetworkHost NetworkMode = "host"
	// NetworkNone gives the sandbox its own empty network namespace in which
	// only the loopback interface exists (and is up).
	NetworkNone NetworkMode = "none"
	// NetworkPrivate gives the sandbox its own network namespace like
	// NetworkNone, but keeps the host's resolv.conf: the caller connects the
	// namespace (a veth moved in by [Spec.Prestart], configured by
	// [Spec.Interface]).
	NetworkPrivate NetworkMode = "private"
)

// Overlay is a writable overlay the sandbox mounts on [Spec.Rootfs] inside
// its own mount namespace, before anything else: the mount exists only as
// long as the sandbox does, and nothing is ever mounted on the host.
type Overlay struct {
	// Lowers are the lower directories, base first.
	Lowers []string
	// Upper and Work are the overlay's upper and work directories (work
	// empty, on upper's filesystem).
	Upper, Work string
}

// Interface is a network interface the sandbox configures in its own
// network namespace before it runs the command: the interface named Name
// (already moved into the namespace by Prestart) gets Address/PrefixLen, is
// brought up, and Gateway (when set) becomes the default route.
type Interface struct {
	Name      string
	Address   string // dotted IPv4
	PrefixLen int
	Gateway   string // dotted IPv4, or ""
}

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
	// CopyUp, for a bind mount of a directory, first copies what the rootfs
	// has at Target into Source when Source is empty (docker's copy-up of a
	// new volume): types, modes, owners and times are kept, symlinks are
	// copied as links, hard links become separate files, xattrs are not
	// copied. Source's own owner and mode become Target's.
	CopyUp bool
	// Options are mount(8)-style options: ro, rw, nosuid, suid, nodev, dev,
	// noexec, exec, noatime, nodiratime, relatime, strictatime, and for bind
	// mounts bind (non-recursive) or rbind (recursive, the default). Any
	// other option of a tmpfs mount (size=64m, mode=1777, ...) is passed to
	// the kernel as mount data; for a bind mount it is an error.
	Options []string
	// Propagation is a bind mount's propagation (docker's bind-propagation): "" or "rprivate" (the
	// default), "private", "slave" or "rslave" (mounts made on the host under Source later appear
	// inside; Source must be on a shared or slave mount). "shared" and "rshared" are refused: the
	// sandbox's root is never shared with the host.
	Propagation string
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
	// Overlay, when not nil, is mounted on Rootfs inside the sandbox. Mount
	// targets are then resolved (and missing mount points created) inside
	// the overlay by the sandbox itself.
	Overlay *Overlay
	// Terminal gives the command a pseudo-terminal allocated from the
	// sandbox's own devpts instance, as docker/runc do, so that ttyname(3)
	// inside names it (/dev/pts/0): its slave, owned by the command's user,
	// becomes the command's stdin, stdout, stderr and controlling terminal
	// (the command is a session leader). [Process.Console] returns the
	// master. [Start] then ignores its IO; [Run] copies IO.Stdin into the
	// master and the master's output into IO.Stdout.
	Terminal bool
	// ConsoleSize is the initial window size of the Terminal's pty; zero
	// rows or columns leave the kernel's default (0x0).
	ConsoleSize WindowSize
	// ExtraHosts are lines added to the generated /etc/hosts ("10.0.0.2\tweb").
	ExtraHosts []string
	// DNS replaces parts of the generated /etc/resolv.conf (docker's --dns, --dns-search,
	// --dns-option); the zero value keeps what the network mode gives.
	DNS DNS
	// ShmSize is the size of /dev/shm in bytes; 0 means docker's default, 64 MiB.
	ShmSize int64
	// Rlimits are set on the sandbox's init before the command runs (docker's
	// --ulimit); the command inherits them. See [CheckRlimits].
	Rlimits []Rlimit
	// Interface, when not nil, is configured in the sandbox's network
	// namespace (Network must be NetworkPrivate).
	Interface *Interface
	// Init runs a minimal init as PID 1 that starts the command as its child,
	// forwards signals to it and reaps orphans (docker's --init).
	Init bool
	// Security is what the command may do beyond its namespaces; the zero
	// value is docker's default.
	Security Security
	// Prestart, when not nil, is called with the host pid of the sandbox's
	// init once its namespaces exist and before it sets anything up or runs
	// the command: the place to put it in a cgroup or move a network
	// interface into its namespace. An error aborts the start.
	Prestart func(pid int) error
	// AttachNetwork, when not nil, is called with the host pid of the sandbox's init after
	// Prestart and after the init was sent its spec: it runs while the init mounts the sandbox's
	// filesystem, and the init configures [Spec.Interface] (which must be set) only once it has
	// returned. The place to move the interface into the namespace: its cost (a veth pair, a NAT
	// rule check) overlaps the init's. An error aborts the start.
	AttachNetwork func(pid int) error
}

// WindowSize is a terminal's size in character cells.
type WindowSize struct {
	Rows, Cols uint16
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
