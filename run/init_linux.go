package run

import (
	"fmt"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// MaybeInit must be the first call of main() (and of TestMain in packages
// that use Run). When os.Args[1] is InitArg the process is a sandbox child
// started by Run: MaybeInit sets the sandbox up and execs the command, and
// never returns (on failure it reports to the parent and exits 1).
// Otherwise it returns immediately and does nothing.
func MaybeInit() {
	if len(os.Args) < 2 || os.Args[1] != InitArg {
		// A descriptor inherited from whoever started hoist (a shell's
		// `7</dir`) must never reach a container or a RUN step: Go's exec
		// passes on every descriptor that is not close-on-exec.
		_ = closeExtraFds()
		makeMountsPrivate()
		return
	}
	// Credentials (capset), PR_SET_PDEATHSIG and execve all act on the
	// calling thread: stay on one from here to exec.
	runtime.GOMAXPROCS(1)
	runtime.LockOSThread()
	errPipe := os.NewFile(errFd, "errpipe")
	err := initChild(errPipe)
	writeInitError(errPipe, err) // initChild returns only on failure
	os.Exit(1)
}

// initChild is the child's whole sequence; it returns only on failure.
func initChild(errPipe *os.File) error {
	// 1. Our pipes must not reach the command: fd 4 closing at exec is how
	// the parent learns that the exec succeeded.
	for _, fd := range []int{specFd, errFd} {
		unix.CloseOnExec(fd)
	}
	cfg, waitNet, err := readInitConfig(os.NewFile(specFd, "specpipe"))
	if err != nil {
		return err
	}
	if cfg.Terminal {
		unix.CloseOnExec(consoleFd)
	}
	// The parent has put us in the sandbox's cgroup (Prestart) before it
	// sent the spec: that cgroup becomes the root of our cgroup namespace.
	// This thread alone enters it; it is the one that execs.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("creating cgroup namespace: %w", &os.SyscallError{Syscall: "unshare", Err: err})
	}
	// 2. Filesystem: private propagation, mounts, pivot_root, then the
	// read-only and masked paths.
	if err := setupRootfs(cfg); err != nil {
		return err
	}
	if err := hardenPaths(cfg); err != nil {
		return err
	}
	// 3. Namespaced identity.
	if err := unix.Sethostname([]byte(cfg.Hostname)); err != nil {
		return &os.SyscallError{Syscall: "sethostname", Err: err}
	}
	if cfg.NewNet {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	if err := waitNet(); err != nil {
		return err
	}
	if cfg.Interface != nil {
		if err := configureInterface(cfg.Interface); err != nil {
			return err
		}
	}
	if cfg.ReadOnlyRootfs {
		if err := remountReadOnly("/", 0, 0); err != nil {
			return fmt.Errorf("remount rootfs read-only: %w", err)
		}
	}
	// 4. User (resolved in the new root), cwd, capabilities.
	u, err := lookupUser(cfg.User)
	if err != nil {
		return err
	}
	env := cfg.Env
	if !hasEnv(env, "HOME") {
		env = append(env[:len(env):len(env)], "HOME="+u.Home)
	}
	if cfg.Overlay != nil {
		// A container's working directory is created when missing, as docker does.
		_ = os.MkdirAll(cfg.Cwd, 0o755)
	}
	if cfg.Terminal {
		if err := setupConsole(os.NewFile(consoleFd, "console"), u, cfg.ConsoleSize); err != nil {
			return err
		}
	}
	if err := unix.Chdir(cfg.Cwd); err != nil {
		return fmt.Errorf("chdir to cwd (%q) set in config: %w", cfg.Cwd, err)
	}
	// Limits while the init still holds its capabilities (CAP_SYS_RESOURCE,
	// when hoist has it, may raise a hard limit).
	if err := setRlimits(cfg.Rlimits); err != nil {
		return err
	}
	if err := dropBoundingSet(cfg.Caps); err != nil {
		return err
	}
	// seccomp goes last (runc's order), but without no_new_privs loading a
	// filter needs CAP_SYS_ADMIN, which the user switch may take away: then
	// it goes in just before it. Everything after it (setgroups, setuid,
	// capset, prctl, close_range, execve) is allowed by docker's profile.
	if !cfg.NoNewPrivileges {
		if err := installSeccomp(cfg.Seccomp); err != nil {
			return err
		}
	}
	if err := setUser(u); err != nil {
		return err
	}
	if err := setCapabilities(cfg.Caps, u.Uid == 0); err != nil {
		return err
	}
	if cfg.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return &os.SyscallError{Syscall: "prctl(PR_SET_NO_NEW_PRIVS)", Err: err}
		}
		if err := installSeccomp(cfg.Seccomp); err != nil {
			return err
		}
	}
	// 5. The command.
	pathEnv, ok := envValue(env, "PATH")
	if !ok {
		pathEnv = defaultPath
	}
	path, err := lookPath(cfg.Args[0], pathEnv)
	if err != nil {
		return err
	}
	unix.Umask(0o022)
	// CVE-2024-21626: no fd of ours may leak into the command. Marking them
	// close-on-exec (not closing them) keeps the Go runtime's fds working
	// until the exec.
	if err := closeExtraFds(); err != nil {
		return err
	}
	if cfg.Init {
		return reap(path, cfg.Args, env, cfg.Terminal, errPipe)
	}
	if err := unix.Exec(path, cfg.Args, env); err != nil {
		return fmt.Errorf("exec: %q: %w", cfg.Args[0], err)
	}
	return nil // not reached
}

// closeExtraFds marks every fd above 2 close-on-exec.
func closeExtraFds() error {
	err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	entries, rerr := os.ReadDir("/proc/self/fd")
	if rerr != nil {
		return fmt.Errorf("close fds: %w (close_range: %w)", rerr, err)
	}
	for _, e := range entries {
		var fd int
		if _, err := fmt.Sscan(e.Name(), &fd); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

// loopbackUp brings lo up in a new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", &os.SyscallError{Syscall: "socket", Err: err})
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", &os.SyscallError{Syscall: "ioctl SIOCGIFFLAGS", Err: err})
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", &os.SyscallError{Syscall: "ioctl SIOCSIFFLAGS", Err: err})
	}
	return nil
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}

// envValue returns the first value of key in env, the one getenv(3) of glibc
// and musl returns.
func envValue(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}
