package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The sandbox's hardening after pivot_root, in runc's order
// (libcontainer/rootfs_linux.go): read-only paths, then masked paths. Both run
// while the init still holds CAP_SYS_ADMIN; the command never does (unless
// privileged or given SYS_ADMIN, and then the filesystem view is not a
// boundary anyway, as with docker).

// readonlyPath makes path (inside the new root) a read-only bind mount of
// itself. A path the kernel does not have is skipped.
func readonlyPath(path string) error {
	if err := unix.Mount(path, path, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("making %s read-only: %w", path, &os.SyscallError{Syscall: "mount", Err: err})
	}
	if err := remount(path, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, 0, true); err != nil {
		return fmt.Errorf("making %s read-only: %w", path, err)
	}
	return nil
}

// maskPath hides path (inside the new root): a directory gets an empty
// read-only tmpfs, anything else /dev/null bound over it. A path the kernel
// does not have is skipped.
func maskPath(path string) error {
	err := unix.Mount("/dev/null", path, "", unix.MS_BIND, "")
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTDIR):
		// A directory cannot take a file bind: cover it with an empty tmpfs.
		if err := unix.Mount("tmpfs", path, "tmpfs", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=0,mode=0555"); err != nil {
			return fmt.Errorf("masking %s: %w", path, &os.SyscallError{Syscall: "mount", Err: err})
		}
		return nil
	default:
		return fmt.Errorf("masking %s: %w", path, &os.SyscallError{Syscall: "mount", Err: err})
	}
}

// hardenPaths applies the read-only and masked paths of a non-privileged
// sandbox. It runs after pivot_root, so the paths are the sandbox's own.
func hardenPaths(cfg *initConfig) error {
	for _, p := range cfg.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return err
		}
	}
	for _, p := range cfg.MaskedPaths {
		if err := maskPath(p); err != nil {
			return err
		}
	}
	return nil
}

// cgroupMount is one cgroup hierarchy the host has mounted.
type cgroupMount struct {
	dir    string // the last element of the host's mount point ("cpu", "unified", "")
	fstype string // "cgroup" or "cgroup2"
	data   string // v1: the controllers and name= options ("cpu,cpuacct")
}

// hostCgroupMounts lists the cgroup hierarchies mounted under /sys/fs/cgroup
// in this process's mount namespace (a copy of the host's).
func hostCgroupMounts() ([]cgroupMount, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	var out []cgroupMount
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || (qf[0] != "cgroup" && qf[0] != "cgroup2") {
			continue
		}
		mp := pf[4]
		if mp != "/sys/fs/cgroup" && filepath.Dir(mp) != "/sys/fs/cgroup" {
			continue
		}
		m := cgroupMount{fstype: qf[0]}
		if mp != "/sys/fs/cgroup" {
			m.dir = filepath.Base(mp)
		}
		if qf[0] == "cgroup" {
			var opts []string
			for _, o := range strings.Split(qf[2], ",") {
				if o != "rw" && o != "ro" {
					opts = append(opts, o)
				}
			}
			m.data = strings.Join(opts, ",")
		}
		out = append(out, m)
	}
	return out, nil
}

// mountCgroups mounts the sandbox's view of the cgroup hierarchies at
// sysfs/fs/cgroup: fresh mounts made in its own cgroup namespace, so each
// shows the sandbox's cgroup as its root. On a unified host that is one
// cgroup2 mount; on a v1 or hybrid host a tmpfs holding one mount per
// hierarchy, as runc makes it. Everything is read-only unless rw.
func mountCgroups(sysfs string, rw bool) error {
	mounts, err := hostCgroupMounts()
	if err != nil {
		return err
	}
	if len(mounts) == 0 {
		return nil // no cgroupfs on the host: nothing to show
	}
	target := filepath.Join(sysfs, "fs", "cgroup")
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_RELATIME)
	if !rw {
		flags |= unix.MS_RDONLY
	}
	if len(mounts) == 1 && mounts[0].dir == "" {
		if err := unix.Mount("cgroup2", target, "cgroup2", flags, ""); err != nil {
			return fmt.Errorf("mount cgroup2 on /sys/fs/cgroup: %w", err)
		}
		return nil
	}
	if err := unix.Mount("tmpfs", target, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=755"); err != nil {
		return fmt.Errorf("mount tmpfs on /sys/fs/cgroup: %w", err)
	}
	for _, m := range mounts {
		if m.dir == "" {
			continue
		}
		dir := filepath.Join(target, m.dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("mount cgroup %s: %w", m.dir, err)
		}
		if err := unix.Mount("cgroup", dir, m.fstype, flags, m.data); err != nil {
			return fmt.Errorf("mount cgroup %s: %w", m.dir, &os.SyscallError{Syscall: "mount", Err: err})
		}
		// Co-mounted controllers ("cpu,cpuacct") are also reachable by each name.
		if strings.Contains(m.data, ",") {
			for _, c := range strings.Split(m.data, ",") {
				if strings.Contains(c, "=") {
					continue
				}
				link := filepath.Join(target, c)
				if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
					if err := os.Symlink(m.dir, link); err != nil {
						return fmt.Errorf("mount cgroup %s: %w", m.dir, err)
					}
				}
			}
		}
	}
	if !rw {
		if err := remount(target, 0, 0, true); err != nil {
			return fmt.Errorf("remount /sys/fs/cgroup read-only: %w", err)
		}
	}
	return nil
}

// hostDevices lists the character and block devices of the host's /dev (not
// its pts, shm and mqueue), for a privileged sandbox: docker gives
// --privileged containers every host device.
func hostDevices() ([]Device, error) {
	var out []Device
	err := filepath.WalkDir("/dev", func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil // a device that vanished while walking
		}
		if d.IsDir() {
			switch p {
			case "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/.lxc", "/dev/.udev":
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&os.ModeDevice == 0 {
			return nil
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return nil
		}
		t := 'b'
		if st.Mode&unix.S_IFMT == unix.S_IFCHR {
			t = 'c'
		}
		switch p {
		case "/dev/console", "/dev/ptmx", "/dev/tty":
			return nil // the sandbox's own
		}
		out = append(out, Device{Path: p, Type: t, Major: unix.Major(st.Rdev), Minor: unix.Minor(st.Rdev),
			Mode: st.Mode & 0o7777, UID: st.Uid, GID: st.Gid})
		return nil
	})
	return out, err
}

// makeDevice creates d under dev (the sandbox's /dev tmpfs, before pivot_root).
func makeDevice(dev string, d Device) error {
	rel := strings.TrimPrefix(filepath.Clean(d.Path), "/dev/")
	if rel == "" || strings.HasPrefix(rel, "..") || filepath.IsAbs(rel) {
		return fmt.Errorf("device %s: not under /dev", d.Path)
	}
	p := filepath.Join(dev, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("device %s: %w", d.Path, err)
	}
	mode := uint32(unix.S_IFCHR)
	if d.Type == 'b' {
		mode = unix.S_IFBLK
	}
	_ = os.Remove(p) // --device may replace a default node
	if _, err := os.Lstat(p); err == nil {
		return bindDevice(p, d) // still there: a default node bind-mounted from the host (rootless)
	}
	if err := unix.Mknod(p, mode|d.Mode&0o777, int(unix.Mkdev(d.Major, d.Minor))); err != nil {
		if errors.Is(err, unix.EPERM) {
			return bindDevice(p, d)
		}
		return fmt.Errorf("device %s: %w", d.Path, &os.PathError{Op: "mknod", Path: p, Err: err})
	}
	if err := unix.Chmod(p, d.Mode&0o7777); err != nil {
		return fmt.Errorf("device %s: %w", d.Path, &os.PathError{Op: "chmod", Path: p, Err: err})
	}
	if err := unix.Lchown(p, int(d.UID), int(d.GID)); err != nil {
		return fmt.Errorf("device %s: %w", d.Path, &os.PathError{Op: "chown", Path: p, Err: err})
	}
	return nil
}

// bindDevice is makeDevice where mknod is refused (a user namespace, as podman does rootless): the
// host's node is bind-mounted at p, with the host's owner and mode, so that the sandbox may open
// what its user may open outside and nothing more. It must be the node described by d.
func bindDevice(p string, d Device) error {
	host := d.HostPath
	if host == "" {
		host = d.Path
	}
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return fmt.Errorf("device %s: %w", d.Path, &os.PathError{Op: "stat", Path: host, Err: err})
	}
	kind := uint32(unix.S_IFCHR)
	if d.Type == 'b' {
		kind = unix.S_IFBLK
	}
	if st.Mode&unix.S_IFMT != kind || st.Rdev != unix.Mkdev(d.Major, d.Minor) {
		return fmt.Errorf("device %s: %s is no longer device %c %d:%d", d.Path, host, d.Type, d.Major, d.Minor)
	}
	var cur unix.Stat_t
	if err := unix.Stat(p, &cur); err == nil {
		if cur.Mode&unix.S_IFMT == kind && cur.Rdev == st.Rdev {
			return nil // the default node, already bound from the host
		}
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("device %s: %w", d.Path, &os.PathError{Op: "unmount", Path: p, Err: err})
		}
	} else {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("device %s: %w", d.Path, err)
		}
		f.Close()
	}
	if err := unix.Mount(host, p, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("device %s: %w", d.Path, &os.PathError{Op: "bind " + host, Path: p, Err: err})
	}
	return nil
}

// resolvedSecurity is a Security turned into what the init applies.
type resolvedSecurity struct {
	caps             uint64
	masked, readonly []string
	devices          []Device
}

// resolveSecurity validates s and computes what the init applies. Errors
// wrap ErrInvalidSpec.
func resolveSecurity(s Security) (resolvedSecurity, error) {
	names, err := s.Capabilities()
	if err != nil {
		return resolvedSecurity{}, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	r := resolvedSecurity{caps: capMask(names), devices: s.Devices}
	if s.Privileged {
		host, err := hostDevices()
		if err != nil {
			return resolvedSecurity{}, fmt.Errorf("listing host devices: %w", err)
		}
		r.devices = append(host, s.Devices...)
		return r, nil
	}
	if !s.SystemPathsUnconfined {
		r.masked, r.readonly = DefaultMaskedPaths, DefaultReadonlyPaths
	}
	for _, d := range s.Devices {
		if !strings.HasPrefix(filepath.Clean(d.Path), "/dev/") || (d.Type != 'c' && d.Type != 'b') {
			return resolvedSecurity{}, fmt.Errorf("%w: device %q: a character or block device under /dev", ErrInvalidSpec, d.Path)
		}
	}
	return r, nil
}
