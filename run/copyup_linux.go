package run

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyUp copies the tree at from (a directory of the rootfs, the image's
// content at a volume's mount point) into the directory to when to is empty,
// as [Mount.CopyUp] describes. It runs in the sandbox's mount namespace
// before the mount hides from. Nothing is followed: from was resolved inside
// the rootfs, WalkDir does not descend into symlinks, and every entry is
// created fresh under to, whose directories are all made here.
func copyUp(from, to string) error {
	names, err := readDirNames(to)
	if err != nil || len(names) > 0 {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(from, &st); errors.Is(err, unix.ENOENT) || (err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR) {
		return nil
	} else if err != nil {
		return &os.PathError{Op: "lstat", Path: from, Err: err}
	}
	type dirTime struct {
		path string
		ts   [2]unix.Timespec
	}
	var dirs []dirTime // set last, deepest first: creating entries changes them
	err = filepath.WalkDir(from, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		ts := [2]unix.Timespec{st.Atim, st.Mtim}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			if rel != "." {
				if err := os.Mkdir(dst, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirTime{dst, ts})
		case unix.S_IFREG:
			if err := copyRegular(p, dst); err != nil {
				return err
			}
		case unix.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(target, dst); err != nil {
				return err
			}
		default: // devices, fifos, sockets
			if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
				return &os.PathError{Op: "mknod", Path: dst, Err: err}
			}
		}
		if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return &os.PathError{Op: "lchown", Path: dst, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return setTimes(dst, ts)
		}
		// After the chown, which clears setuid and setgid.
		if err := unix.Chmod(dst, st.Mode&0o7777); err != nil {
			return &os.PathError{Op: "chmod", Path: dst, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			return nil
		}
		return setTimes(dst, ts)
	})
	if err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setTimes(dirs[i].path, dirs[i].ts); err != nil {
			return err
		}
	}
	return nil
}

func setTimes(p string, ts [2]unix.Timespec) error {
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts[:], unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimensat", Path: p, Err: err}
	}
	return nil
}

// copyRegular copies the content of the regular file src into a new file dst.
func copyRegular(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// readDirNames returns the names in dir (at most one: only emptiness matters).
func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	return names, err
}
