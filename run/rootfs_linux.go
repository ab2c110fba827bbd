package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/mountinfo"

	"github.com/hoistbuild/hoist/snapshot"
	"golang.org/x/sys/unix"
)

// setupRootfs builds the sandbox's filesystem view and pivots into it. It
// runs in the child's new mount namespace; nothing it mounts is visible to
// the caller.
func setupRootfs(cfg *initConfig) error {
	// Nothing we mount may propagate back to the host; with a slave bind mount, the host's mounts
	// may propagate in (runc's default root propagation), every other bind mount is made rprivate.
	rootProp, what := uintptr(unix.MS_REC|unix.MS_PRIVATE), "rprivate"
	if cfg.RootSlave {
		rootProp, what = unix.MS_REC|unix.MS_SLAVE, "rslave"
	}
	if err := unix.Mount("", "/", "", rootProp, ""); err != nil {
		return fmt.Errorf("make / %s: %w", what, &os.SyscallError{Syscall: "mount", Err: err})
	}
	if cfg.Overlay != nil {
		o := cfg.Overlay
		if err := snapshot.MountOverlayDirs(o.Lowers, o.Upper, o.Work, cfg.Rootfs); err != nil {
			return err
		}
	}
	if cfg.ResolveInChild {
		if err := resolveTargets(cfg); err != nil {
			return err
		}
	}
	// pivot_root needs the new root to be a mount point.
	mounted, err := mountinfo.Mounted(cfg.Rootfs)
	if err != nil {
		return fmt.Errorf("checking whether rootfs is a mount point: %w", err)
	}
	if !mounted {
		if err := unix.Mount(cfg.Rootfs, cfg.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind rootfs onto itself: %w", &os.SyscallError{Syscall: "mount", Err: err})
		}
	}
	const noSuidDevExec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("proc", cfg.ProcDir, "proc", noSuidDevExec, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	sysFlags := uintptr(noSuidDevExec | unix.MS_RDONLY)
	if cfg.Privileged {
		sysFlags &^= unix.MS_RDONLY
	}
	if err := unix.Mount("sysfs", cfg.SysDir, "sysfs", sysFlags, ""); err != nil {
		return fmt.Errorf("mount sysfs: %w", err)
	}
	if err := mountCgroups(cfg.SysDir, cfg.Privileged); err != nil {
		return err
	}
	if err := setupDev(cfg.DevDir, cfg.Devices, cfg.ShmSize); err != nil {
		return err
	}
	for _, m := range cfg.Mounts {
		if err := mountOne(cfg.Rootfs, m); err != nil {
			return err
		}
	}
	return pivotRoot(cfg.Rootfs)
}

// resolveTargets turns the in-rootfs targets of cfg into host paths inside
// the (now mounted) rootfs, symlinks resolved inside it, creating missing
// mount points.
func resolveTargets(cfg *initConfig) error {
	for _, d := range []*string{&cfg.ProcDir, &cfg.SysDir, &cfg.DevDir} {
		p, err := securejoin.SecureJoin(cfg.Rootfs, *d)
		if err != nil {
			return fmt.Errorf("resolving %s in rootfs: %w", *d, err)
		}
		if err := ensureTarget(p, false); err != nil {
			return fmt.Errorf("creating mount point %s: %w", *d, err)
		}
		*d = p
	}
	for i := range cfg.Mounts {
		m := &cfg.Mounts[i]
		p, err := securejoin.SecureJoin(cfg.Rootfs, m.Target)
		if err != nil {
			return fmt.Errorf("resolving %s in rootfs: %w", m.Target, err)
		}
		if err := ensureTarget(p, m.File); err != nil {
			return fmt.Errorf("creating mount point %s: %w", m.Target, err)
		}
		m.Target = p
	}
	return nil
}

// devNode is a character device made in /dev.
type devNode struct {
	name         string
	major, minor uint32
}

// setupDev mounts a tmpfs on dev and populates it like docker does, then
// adds devices (--device, or the host's for a privileged sandbox). shmSize
// is the size of /dev/shm in bytes (0: docker's 64 MiB).
func setupDev(dev string, devices []Device, shmSize int64) error {
	if err := unix.Mount("tmpfs", dev, "tmpfs", unix.MS_NOSUID|unix.MS_STRICTATIME, "mode=755,size=65536k"); err != nil {
		return fmt.Errorf("mount tmpfs on /dev: %w", err)
	}
	for _, n := range []devNode{{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0}} {
		if err := makeDevNode(dev, n); err != nil {
			return err
		}
	}
	pts := filepath.Join(dev, "pts")
	if err := os.Mkdir(pts, 0o755); err != nil {
		return fmt.Errorf("mount devpts: %w", err)
	}
	if err := unix.Mount("devpts", pts, "devpts", unix.MS_NOSUID|unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"); err != nil {
		return fmt.Errorf("mount devpts: %w", err)
	}
	shm := filepath.Join(dev, "shm")
	if err := os.Mkdir(shm, 0o755); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	shmData := "mode=1777,size=65536k"
	if shmSize > 0 {
		shmData = fmt.Sprintf("mode=1777,size=%d", shmSize)
	}
	if err := unix.Mount("shm", shm, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, shmData); err != nil {
		return fmt.Errorf("mount /dev/shm: %w", err)
	}
	mq := filepath.Join(dev, "mqueue")
	if err := os.Mkdir(mq, 0o755); err != nil {
		return fmt.Errorf("mount /dev/mqueue: %w", err)
	}
	// mqueue is optional: a kernel without it just has no /dev/mqueue.
	if err := unix.Mount("mqueue", mq, "mqueue", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		if !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("mount /dev/mqueue: %w", err)
		}
		_ = os.Remove(mq)
	}
	for _, l := range [][2]string{
		{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
	} {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return fmt.Errorf("populate /dev: %w", err)
		}
	}
	for _, d := range devices {
		if err := makeDevice(dev, d); err != nil {
			return err
		}
	}
	return nil
}

// makeDevNode creates a device node, or bind-mounts the host's when mknod is
// not allowed (as in a user namespace).
func makeDevNode(dev string, n devNode) error {
	path := filepath.Join(dev, n.name)
	err := unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor)))
	if err == nil {
		if err := unix.Chmod(path, 0o666); err != nil { // undo the umask
			return fmt.Errorf("create /dev/%s: %w", n.name, &os.PathError{Op: "chmod", Path: path, Err: err})
		}
		return nil
	}
	if !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("create /dev/%s: %w", n.name, &os.PathError{Op: "mknod", Path: path, Err: err})
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return fmt.Errorf("create /dev/%s: %w", n.name, err)
	}
	f.Close()
	if err := unix.Mount("/dev/"+n.name, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind /dev/%s: %w", n.name, err)
	}
	return nil
}

// mountOne makes one of cfg.Mounts. Its target normally exists (the parent
// created it); it is created here only when an earlier mount covered it.
func mountOne(rootfs string, m initMount) error {
	dest, _ := filepath.Rel(rootfs, m.Target)
	dest = "/" + dest
	if err := ensureTarget(m.Target, m.File); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Type, dest, err)
	}
	switch m.Type {
	case "bind":
		if m.CopyUp {
			if err := copyUp(m.Target, m.Source); err != nil {
				return fmt.Errorf("copying %s into its volume: %w", dest, err)
			}
		}
		flags := uintptr(unix.MS_BIND)
		if m.Rec {
			flags |= unix.MS_REC
		}
		if err := unix.Mount(m.Source, m.Target, "", flags, ""); err != nil {
			return fmt.Errorf("mount bind %s on %s: %w", m.Source, dest, err)
		}
		if m.ReadOnly || m.Flags != 0 || m.Clear != 0 {
			if err := remount(m.Target, m.Flags, m.Clear, m.ReadOnly); err != nil {
				return fmt.Errorf("remount bind %s on %s: %w", m.Source, dest, err)
			}
		}
		if m.Propagation != 0 {
			if err := unix.Mount("", m.Target, "", m.Propagation, ""); err != nil {
				return fmt.Errorf("set the propagation of %s: %w", dest, &os.SyscallError{Syscall: "mount", Err: err})
			}
		}
	case "tmpfs":
		flags := m.Flags
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		if err := unix.Mount("tmpfs", m.Target, "tmpfs", flags, m.Data); err != nil {
			return fmt.Errorf("mount tmpfs on %s: %w", dest, err)
		}
	default:
		return fmt.Errorf("mount %s on %s: unsupported type", m.Type, dest)
	}
	return nil
}

// ensureTarget creates a missing mount point inside an earlier mount.
func ensureTarget(path string, file bool) error {
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if !file {
		return os.MkdirAll(path, 0o755)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// remountReadOnly makes the mount at path read-only, keeping its other flags.
func remountReadOnly(path string, set, clear uintptr) error {
	return remount(path, set, clear, true)
}

// remount changes the per-mount flags of the bind mount at path: its current
// flags, plus set, minus clear, plus MS_RDONLY when ro.
func remount(path string, set, clear uintptr, ro bool) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return &os.PathError{Op: "statfs", Path: path, Err: err}
	}
	flags := (statfsToMount(st.Flags) | set) &^ clear
	if ro {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount("", path, "", unix.MS_REMOUNT|unix.MS_BIND|flags, ""); err != nil {
		return &os.SyscallError{Syscall: "mount", Err: err}
	}
	return nil
}

// statfsToMount maps statfs(2) ST_* flags to the MS_* flags a bind remount
// must repeat to keep them.
func statfsToMount(st int64) uintptr {
	var flags uintptr
	for _, f := range [][2]uintptr{
		{unix.ST_RDONLY, unix.MS_RDONLY},
		{unix.ST_NOSUID, unix.MS_NOSUID},
		{unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_SYNCHRONOUS, unix.MS_SYNCHRONOUS},
		{unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_NODIRATIME, unix.MS_NODIRATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME},
	} {
		if uintptr(st)&f[0] != 0 {
			flags |= f[1]
		}
	}
	return flags
}

// pivotRoot makes rootfs the root and detaches the old one.
//
// It uses pivot_root(".", ".") (pivot_root(2) NOTES; runc does the same)
// rather than a put_old directory inside the rootfs: a put_old directory
// would have to be created in, and removed from, the rootfs, changing its
// mtime, and the rootfs must be left as found.
func pivotRoot(rootfs string) error {
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/", Err: err}
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rootfs, Err: err}
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return &os.SyscallError{Syscall: "fchdir", Err: err}
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.SyscallError{Syscall: "pivot_root", Err: err}
	}
	// The old root is now stacked on top of the new one, at ".": detach it.
	if err := unix.Fchdir(oldroot); err != nil {
		return &os.SyscallError{Syscall: "fchdir", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("unmount old root: %w", &os.SyscallError{Syscall: "umount2", Err: err})
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.SyscallError{Syscall: "chdir", Err: err}
	}
	return nil
}
