package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/moby/sys/user"
)

// The parent (Run) and the child (MaybeInit in the re-executed binary) talk
// over two pipes that the child inherits as fds 3 and 4:
//
//	fd 3  specPipe  parent → child   one JSON initConfig, then EOF
//	fd 4  errPipe   child → parent   nothing (exec succeeded) or one JSON
//	                                 initError; the child marks it
//	                                 close-on-exec, so EOF means "exec'd"
//	fd 5  console   child → parent   only with Terminal: a unix socket; the
//	                                 pty master (SCM_RIGHTS), sent before
//	                                 exec (console_linux.go)
//
//	   parent (Run)                                  child (MaybeInit)
//	   ------------                                  -----------------
//	   create temp dir, /etc files, mount stubs
//	   LockOSThread; Start(/proc/self/exe InitArg)
//	   (Cloneflags NEWNS|NEWPID|NEWUTS|NEWIPC[|NEWNET], Pdeathsig SIGKILL)
//	                                                 LockOSThread
//	                                                 CLOEXEC fds 3, 4
//	   write initConfig ──── specPipe ─────────────> read initConfig to EOF
//	   close specPipe
//	                                                 mounts, pivot_root,
//	                                                 hostname, lo up,
//	                                                 user, [pty → fd 5,
//	                                                 ctty, fds 0-2], cwd,
//	                                                 caps, PATH,
//	                                                 CLOEXEC every fd > 2
//	                                        ┌─ ok:   execve(command)  (errPipe closes)
//	   read errPipe to EOF <──── errPipe ───┤
//	                                        └─ fail: write initError, exit(1)
//	   empty  → the command runs; [read the pty master from fd 5's peer];
//	            cmd.Wait, exit code (128+N for signal N)
//	   !empty → cmd.Wait, return *InitError
//	   remove stubs (deepest first) and temp dir
//
// Cancelling ctx at any point SIGKILLs the child, which is PID 1 of its pid
// namespace, so the kernel kills everything inside; the pipes then reach EOF.
const (
	specFd = 3
	errFd  = 4
)

// initConfig is what the child needs; every path is already resolved by the
// parent (host paths inside Rootfs, symlinks resolved with securejoin), so
// the child does no path resolution of its own before pivot_root.
type initConfig struct {
	Rootfs         string      `json:"rootfs"`
	ProcDir        string      `json:"procDir"`
	SysDir         string      `json:"sysDir"`
	DevDir         string      `json:"devDir"`
	Mounts         []initMount `json:"mounts"` // /etc files, then Spec.Mounts
	Args           []string    `json:"args"`
	Env            []string    `json:"env"`
	Cwd            string      `json:"cwd"`
	User           string      `json:"user"`
	Hostname       string      `json:"hostname"`
	NewNet         bool        `json:"newNet"`
	ReadOnlyRootfs bool        `json:"readOnlyRootfs"`
	Overlay        *Overlay    `json:"overlay,omitempty"`
	// ResolveInChild: the targets of Mounts and the proc/sys/dev dirs are
	// paths inside the rootfs that the child resolves after mounting Overlay.
	ResolveInChild bool `json:"resolveInChild,omitempty"`
	// RootSlave makes "/" rslave rather than rprivate at the start, so that a bind mount asking
	// for slave propagation stays a slave of the host's mount (every other bind mount is made
	// rprivate).
	RootSlave   bool       `json:"rootSlave,omitempty"`
	Terminal    bool       `json:"terminal,omitempty"`
	ConsoleSize WindowSize `json:"consoleSize,omitempty"`
	Interface   *Interface `json:"interface,omitempty"`
	// WaitNetwork: the parent sends a second message (netReady) once Interface is in the
	// namespace (Spec.AttachNetwork); the init waits for it before configuring it.
	WaitNetwork bool         `json:"waitNetwork,omitempty"`
	ShmSize     int64        `json:"shmSize,omitempty"`
	Rlimits     []initRlimit `json:"rlimits,omitempty"`
	KeepResolv  bool         `json:"-"`
	// Hardening (Spec.Security, resolved by the parent).
	Privileged      bool     `json:"privileged,omitempty"`
	Caps            uint64   `json:"caps"`
	NoNewPrivileges bool     `json:"noNewPrivileges,omitempty"`
	MaskedPaths     []string `json:"maskedPaths,omitempty"`
	ReadonlyPaths   []string `json:"readonlyPaths,omitempty"`
	Devices         []Device `json:"devices,omitempty"`
	Init            bool     `json:"init,omitempty"`
	// Seccomp is the compiled filter (nil: none), compiled by the parent
	// once per process, installed by the init last.
	Seccomp *seccompFilter `json:"seccomp,omitempty"`

	extraHosts []string    // Spec.ExtraHosts (parent only)
	dns        DNS         // Spec.DNS (parent only)
	userMounts []initMount // parsed Spec.Mounts, targets not yet resolved (parent only)
}

// initMount is a mount with its options already parsed.
type initMount struct {
	Type     string  `json:"type"` // "bind" or "tmpfs"
	Source   string  `json:"source"`
	Target   string  `json:"target"` // host path inside Rootfs
	File     bool    `json:"file"`   // the target is a file, not a directory
	Flags    uintptr `json:"flags"`  // MS_* flags besides MS_BIND/MS_RDONLY
	Clear    uintptr `json:"clear"`  // MS_* flags to clear on a read-only bind remount
	Data     string  `json:"data"`
	ReadOnly bool    `json:"readOnly"`
	Rec      bool    `json:"rec"` // recursive bind
	CopyUp   bool    `json:"copyUp,omitempty"`
	// Propagation is the MS_PRIVATE/MS_SLAVE (|MS_REC) flags set on a bind mount once made (0: none).
	Propagation uintptr `json:"propagation,omitempty"`
}

// initError is the child's report of a setup failure.
type initError struct {
	Msg  string `json:"msg"`
	Kind string `json:"kind,omitempty"`
}

// Kinds of initError, mapped back to well-known errors by the parent.
const (
	kindNotFound = "notfound"
	kindNoPasswd = "nopasswd"
	kindNoGroup  = "nogroup"
)

// kindErrors lists the well-known errors an initError can carry.
func kindErrors() map[string]error {
	return map[string]error{
		kindNotFound: exec.ErrNotFound,
		kindNoPasswd: user.ErrNoPasswdEntries,
		kindNoGroup:  user.ErrNoGroupEntries,
	}
}

// writeInitError reports err to the parent. Errors writing are ignored: the
// child exits non-zero right after, and the parent copes with a missing report.
func writeInitError(w io.Writer, err error) {
	ie := initError{Msg: err.Error()}
	for kind, known := range kindErrors() {
		if errors.Is(err, known) {
			ie.Kind = kind
		}
	}
	_ = json.NewEncoder(w).Encode(ie)
}

// readInitError reads the child's report: nil when the child exec'd (EOF with
// nothing), an *InitError otherwise.
func readInitError(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("reading init error pipe: %w", err)
	}
	if len(b) == 0 {
		return nil
	}
	var ie initError
	if err := json.Unmarshal(b, &ie); err != nil {
		return &InitError{Msg: fmt.Sprintf("sandbox init failed with an unreadable report %q", b)}
	}
	return &InitError{Msg: ie.Msg, Cause: kindErrors()[ie.Kind]}
}

// netReady is the parent's second message when initConfig.WaitNetwork is set: the interface is in
// the namespace. The parent closes the pipe without it when attaching failed.
type netReady struct {
	Ready bool `json:"ready"`
}

// readInitConfig decodes the spec the parent wrote to fd 3. waitNet waits for the parent's
// netReady when the spec asks for it; the pipe is closed once nothing more is to come (it is
// close-on-exec in any case).
func readInitConfig(f *os.File) (cfg *initConfig, waitNet func() error, err error) {
	dec := json.NewDecoder(f)
	cfg = new(initConfig)
	if err := dec.Decode(cfg); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("reading sandbox spec: %w", err)
	}
	if !cfg.WaitNetwork {
		f.Close()
		return cfg, func() error { return nil }, nil
	}
	return cfg, func() error {
		defer f.Close()
		var r netReady
		if err := dec.Decode(&r); err != nil || !r.Ready {
			return errors.New("the sandbox's network interface was not attached")
		}
		return nil
	}, nil
}
