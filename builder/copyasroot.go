package builder

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// copyTreeAsRoot copies src (a directory tree or a single file) to dst, which must not exist, with
// modes and modification times, owned by the caller (root) whoever owned the source: the copy a
// rootless step writes in (see throwAway). Hard links become separate files; devices, fifos and
// sockets are refused (a build context does not send them).
func copyTreeAsRoot(ctx context.Context, src, dst string) error {
	type dirTime struct {
		path string
		ts   []unix.Timespec
	}
	var dirs []dirTime
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			if err := os.Mkdir(to, 0o700); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if err := copyRegular(p, to); err != nil {
				return err
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to) // a link's mode and time are not copied
		default:
			return fmt.Errorf("%s: cannot copy a %v", p, fi.Mode().Type())
		}
		if err := os.Chmod(to, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
		ts := mtimes(fi)
		if fi.IsDir() { // after its entries, which change it
			dirs = append(dirs, dirTime{to, ts})
			return nil
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, to, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i].path, dirs[i].ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("copying %s: %w", src, err)
		}
	}
	return nil
}

func copyRegular(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// mtimes is atime and mtime of fi for UtimesNanoAt (both the modification time: the copy's access
// time says nothing).
func mtimes(fi fs.FileInfo) []unix.Timespec {
	ts := unix.NsecToTimespec(fi.ModTime().UnixNano())
	return []unix.Timespec{ts, ts}
}
