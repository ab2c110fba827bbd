//go:build linux

package snapshot

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

// Driver is how a build step's rootfs is made writable over the unpacked layers.
type Driver string

// The drivers, in the order the probe tries them.
const (
	// DriverOverlay is the kernel's overlayfs (with "userxattr" in a user namespace, Linux >= 5.11).
	DriverOverlay Driver = "overlay"
	// DriverFuseOverlayfs is fuse-overlayfs (Debian package fuse-overlayfs), for user namespaces
	// whose kernel refuses overlayfs. It needs /dev/fuse.
	DriverFuseOverlayfs Driver = "fuse-overlayfs"
	// DriverCopy copies the lowers into a directory and diffs the copy against them afterwards:
	// slow, but it works on any filesystem.
	DriverCopy Driver = "copy"
)

// ParseDriver reads a driver name as --storage-driver takes it; "" means "probe".
func ParseDriver(s string) (Driver, error) {
	switch d := Driver(s); d {
	case "", DriverOverlay, DriverFuseOverlayfs, DriverCopy:
		return d, nil
	}
	return "", fmt.Errorf("unknown storage driver %q (overlay, fuse-overlayfs or copy)", s)
}

// Option configures a Snapshotter.
type Option func(*Snapshotter)

// WithDriver makes the Snapshotter use d instead of probing (d == "" probes). A driver that cannot
// work here is an error from [Snapshotter.Driver], never a silent fallback.
func WithDriver(d Driver) Option { return func(s *Snapshotter) { s.forced = d } }

// DriverStatus is the driver a Snapshotter uses and why.
type DriverStatus struct {
	Driver Driver
	// Forced is set when the driver was given (WithDriver), not probed.
	Forced bool
	// UserXattr is set when overlay metadata lives in user.overlay.* xattrs (the kernel's overlay,
	// mounted with "userxattr" in a user namespace).
	UserXattr bool
	// Program is the fuse-overlayfs executable (DriverFuseOverlayfs only).
	Program string
	// Skipped says, for each better driver that was not used, why.
	Skipped []string
}

// Driver reports the driver this Snapshotter's steps use: the forced one, else the kernel's overlay
// where a probe mount under the root works, else fuse-overlayfs where it is installed, /dev/fuse
// can be opened and a probe mount works, else the copy. The probe runs once per Snapshotter.
func (s *Snapshotter) Driver() (DriverStatus, error) {
	s.driverOnce.Do(func() { s.driver, s.driverErr = s.probeDriver() })
	return s.driver, s.driverErr
}

func (s *Snapshotter) probeDriver() (DriverStatus, error) {
	st := DriverStatus{Driver: s.forced, Forced: s.forced != ""}
	switch s.forced {
	case DriverCopy:
		return st, nil
	case DriverOverlay:
		if !s.OverlaySupported() {
			return st, errors.New("storage driver overlay: the kernel's overlayfs does not work here " +
				"(a probe mount under the storage root failed); use fuse-overlayfs or copy")
		}
		st.UserXattr = userns.RunningInUserNS()
		return st, nil
	case DriverFuseOverlayfs:
		prog, err := s.fuseWorks()
		if err != nil {
			return st, fmt.Errorf("storage driver fuse-overlayfs: %w", err)
		}
		st.Program = prog
		return st, nil
	}
	if s.OverlaySupported() {
		st.Driver, st.UserXattr = DriverOverlay, userns.RunningInUserNS()
		return st, nil
	}
	st.Skipped = append(st.Skipped, "overlay: a probe mount of the kernel's overlayfs failed")
	prog, err := s.fuseWorks()
	if err == nil {
		st.Driver, st.Program = DriverFuseOverlayfs, prog
		return st, nil
	}
	st.Skipped = append(st.Skipped, "fuse-overlayfs: "+err.Error())
	st.Driver = DriverCopy
	return st, nil
}

// fuseWorks finds fuse-overlayfs, checks /dev/fuse and mounts a probe overlay with it.
func (s *Snapshotter) fuseWorks() (string, error) {
	prog, err := exec.LookPath("fuse-overlayfs")
	if err != nil {
		return "", errors.New("not installed (Debian package fuse-overlayfs)")
	}
	if err := devFuseUsable(); err != nil {
		return "", err
	}
	t, err := newTemp(s.tmpDir(), "probe-")
	if err != nil {
		return "", err
	}
	defer t.release()
	if err := probeMount(t.dir, func(lowers []string, upper, work, merged string) error {
		return mountFuse(prog, lowers, upper, work, merged)
	}); err != nil {
		return "", fmt.Errorf("a probe mount failed: %w", err)
	}
	return prog, nil
}

// devFuseUsable opens /dev/fuse as fuse-overlayfs will, so that a missing or forbidden device is
// one clear error instead of fuse's "cannot mount".
func devFuseUsable() error {
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fuse-overlayfs needs /dev/fuse: open /dev/fuse: %w (load the fuse module on the host; "+
			"in a container or pod, pass the device in: docker run --device /dev/fuse, or a Kubernetes "+
			"device plugin or hostPath volume for /dev/fuse, see examples/ci)", err)
	}
	unix.Close(fd)
	return nil
}

// mountFuse mounts lowersTop (top first) with upper and work at target with fuse-overlayfs. The
// program puts itself in the background once the mount is in place and ends when it is unmounted
// (or when the mount namespace holding it goes away).
func mountFuse(prog string, lowersTop []string, upper, work, target string) error {
	paths := append(append([]string{}, lowersTop...), upper, work, target)
	for _, p := range paths {
		if p != "" && strings.ContainsAny(p, ":,") {
			return fmt.Errorf("fuse-overlayfs: path %s contains ':' or ',', which its options cannot carry", p)
		}
	}
	opts := "lowerdir=" + strings.Join(lowersTop, ":")
	if upper != "" {
		opts += ",upperdir=" + upper + ",workdir=" + work
	}
	out, err := exec.Command(prog, "-o", opts, target).CombinedOutput()
	if err != nil {
		return fmt.Errorf("fuse-overlayfs at %s: %w: %s", target, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NormalizeUpper turns the upper dir of a writable MountOverlay over lowers (base first), once
// unmounted, into the kernel overlay's format, which the differ reads and later mounts use as a
// lower. A no-op for the other drivers. fuse-overlayfs (1.10) differs from the kernel in its upper
// dir:
//   - it marks an opaque directory with a ".wh..wh..opq" file (and user.fuseoverlayfs.opaque where
//     it cannot set the overlay xattr), records copy-up origins in user.fuseoverlayfs.origin, writes
//     ".wh.NAME" files for whiteouts where it cannot create 0/0 devices, and leaves whiteouts of its
//     own ".wh." names: all turned into the kernel's marks, none may reach a layer;
//   - a copy-up changes the mtime of the directory it lands in, and a copied-up symlink gets a new
//     mtime, where the kernel keeps both: a directory whose entries are all copy-ups (files with an
//     origin, symlinks as in the lowers, directories of the lowers) and a symlink as in the lowers
//     get the lowers' mtime back, so that a layer is the kernel overlay's, byte for byte.
func (s *Snapshotter) NormalizeUpper(upper string, lowers []string) error {
	st, err := s.Driver()
	if err != nil || st.Driver != DriverFuseOverlayfs {
		return err
	}
	if err := normalizeFuseUpper(upper); err != nil {
		return err
	}
	// The upper dir's own root is never in a layer: only what is below it.
	view := newMergedView(lowers)
	names, err := readDirNames(upper)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, err := restoreCopyUpTimes(view, lowers, filepath.Join(upper, n), n); err != nil {
			return err
		}
	}
	return nil
}

// restoreCopyUpTimes walks the normalized upper dir abs (rel in the layer) and reports whether the
// entry is only a copy-up (its presence changes nothing in its directory's listing). On the way it
// undoes two more fuse-overlayfs habits the kernel does not have: it marks every directory it
// creates opaque, also where no lower has that name (the kernel marks only a directory that
// replaces a lower entry); and deleting one name of a lower file with several links copies up the
// others, unchanged (the kernel leaves them in the lower).
func restoreCopyUpTimes(view *mergedView, lowers []string, abs, rel string) (bool, error) {
	st, err := lstat(abs)
	if err != nil {
		return false, err
	}
	lower, err := view.lookup(rel)
	if err != nil {
		return false, err
	}
	if isDir(&st) && lower == nil {
		if err := unix.Lremovexattr(abs, xattrOpaque); err != nil && !errors.Is(err, unix.ENODATA) {
			return false, fmt.Errorf("normalizing fuse-overlayfs upper dir: %w", &pathError{"removexattr", abs, err})
		}
		_, err := restoreDirTimes(view, lowers, abs, rel)
		return false, err
	}
	if lower == nil || fileType(&lower.st) != fileType(&st) {
		return false, nil
	}
	switch fileType(&st) {
	case unix.S_IFREG:
		if _, err := getXattr(abs, xattrOrigin); err != nil {
			return false, nil
		}
		if lower.st.Nlink > 1 {
			caps, _ := getXattr(abs, "security.capability")
			same, err := unchangedInLowers(lowers, rel, abs, &st, map[string]string{"security.capability": string(caps)})
			if err != nil {
				return false, err
			}
			if same {
				return true, os.Remove(abs)
			}
		}
		return true, nil
	case unix.S_IFLNK:
		link, err1 := os.Readlink(abs)
		was, err2 := os.Readlink(lower.abs)
		if err1 != nil || err2 != nil || link != was {
			return false, nil
		}
		return true, setMtime(abs, lower.st.Mtim)
	case unix.S_IFDIR:
		if opaque, err := isOpaque(abs); err != nil || opaque {
			return false, err
		}
		all, err := restoreDirTimes(view, lowers, abs, rel)
		if err != nil {
			return false, err
		}
		if all {
			return true, setMtime(abs, lower.st.Mtim)
		}
		return true, nil
	}
	return false, nil
}

// restoreDirTimes runs restoreCopyUpTimes on the entries of directory abs and reports whether they
// all are copy-ups (false for an empty directory).
func restoreDirTimes(view *mergedView, lowers []string, abs, rel string) (bool, error) {
	names, err := readDirNames(abs)
	if err != nil {
		return false, err
	}
	all := len(names) > 0
	for _, n := range names {
		ok, err := restoreCopyUpTimes(view, lowers, filepath.Join(abs, n), joinRel(rel, n))
		if err != nil {
			return false, err
		}
		all = all && ok
	}
	return all, nil
}

func setMtime(path string, mtime unix.Timespec) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, mtime}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("normalizing fuse-overlayfs upper dir: %w", &pathError{"utimensat", path, err})
	}
	return nil
}

const fuseXattrPrefix = "user.fuseoverlayfs."

func normalizeFuseUpper(dir string) error {
	names, err := readDirNames(dir)
	if err != nil {
		return err
	}
	opaque := false
	for _, name := range names {
		p := filepath.Join(dir, name)
		st, err := lstat(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(name, whiteoutPrefix) {
			// Image files are never named .wh.*: a layer tar cannot carry such a name.
			if err := unix.Unlink(p); err != nil {
				return fmt.Errorf("normalizing fuse-overlayfs upper dir: %w", &pathError{"unlink", p, err})
			}
			switch target := strings.TrimPrefix(name, whiteoutPrefix); {
			case name == whiteoutOpaque:
				opaque = true
			case fileType(&st) == unix.S_IFREG && !strings.HasPrefix(name, whiteoutMetaPrefix) && target != "":
				if err := unix.Mknod(filepath.Join(dir, target), unix.S_IFCHR, 0); err != nil {
					return fmt.Errorf("normalizing fuse-overlayfs upper dir: whiteout %s: %w", filepath.Join(dir, target), err)
				}
			}
			continue
		}
		if err := dropFuseXattrs(p, isDir(&st)); err != nil {
			return err
		}
		if isDir(&st) {
			if err := normalizeFuseUpper(p); err != nil {
				return err
			}
		}
	}
	if opaque {
		if err := unix.Lsetxattr(dir, xattrOpaque, []byte("y"), 0); err != nil {
			return fmt.Errorf("normalizing fuse-overlayfs upper dir: %w", &pathError{"setxattr " + xattrOpaque, dir, err})
		}
	}
	return nil
}

// dropFuseXattrs removes fuse-overlayfs's own xattrs from p, turning its opaque mark on a
// directory into the overlay's own and its copy-up origin into an empty kernel origin mark.
func dropFuseXattrs(p string, dir bool) error {
	names, err := listXattrs(p)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !strings.HasPrefix(n, fuseXattrPrefix) {
			continue
		}
		// Where the diff must know a file was copied up (an unchanged lower file given a new
		// link), the kernel's origin mark says so; empty, the kernel ignores it (no file handle).
		if n == fuseXattrPrefix+"origin" {
			if err := unix.Lsetxattr(p, xattrOrigin, nil, 0); err != nil {
				return fmt.Errorf("normalizing fuse-overlayfs upper dir: %w", &pathError{"setxattr " + xattrOrigin, p, err})
			}
		}
		if dir && n == fuseXattrPrefix+"opaque" {
			if v, err := getXattr(p, n); err == nil && string(v) == "y" {
				if err := unix.Lsetxattr(p, xattrOpaque, []byte("y"), 0); err != nil {
					return fmt.Errorf("normalizing fuse-overlayfs upper dir: %w", &pathError{"setxattr " + xattrOpaque, p, err})
				}
			}
		}
		if err := unix.Lremovexattr(p, n); err != nil {
			return fmt.Errorf("normalizing fuse-overlayfs upper dir: %w", &pathError{"removexattr " + n, p, err})
		}
	}
	return nil
}
