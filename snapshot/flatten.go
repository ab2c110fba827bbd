//go:build linux

package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Flatten materializes the merged view of lowers (overlayfs lower dirs, base
// first, as Ensure returns them) into dst, an existing directory that is
// normally empty: it applies each layer in turn, so a whiteout removes the
// path, an opaque directory drops what lower layers put in it, and a
// directory replaces a non-directory (and vice versa), exactly as overlayfs
// would show it. Owners, modes (setuid etc.), mtimes/atimes and xattrs
// (except trusted.overlay.* and security.selinux) are copied; the root
// directory gets the top layer's metadata; hardlinks inside a layer stay
// hardlinks; sockets are skipped. dst is the fallback rootfs when overlayfs
// is unavailable (see OverlaySupported); the lowers are trusted (written by
// Ensure), and because every parent is created as a real directory before
// its children, no write follows a symlink in dst. On error dst is
// partially populated.
func Flatten(ctx context.Context, lowers []string, dst string) error {
	for _, l := range lowers {
		f := flattener{links: make(map[devIno]string)}
		if err := f.applyDir(ctx, l, dst); err != nil {
			return fmt.Errorf("flattening %s into %s: %w", l, dst, err)
		}
		st, err := lstat(l)
		if err != nil {
			return err
		}
		if err := copyMeta(l, dst, &st, true); err != nil {
			return fmt.Errorf("flattening %s into %s: %w", l, dst, err)
		}
	}
	return nil
}

type flattener struct {
	links map[devIno]string // layer inode -> dst path created for it
}

func (f *flattener) applyDir(ctx context.Context, srcDir, dstDir string) error {
	names, err := readDirNames(srcDir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", srcDir, err)
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		src := filepath.Join(srcDir, name)
		dst := filepath.Join(dstDir, name)
		st, err := lstat(src)
		if err != nil {
			return err
		}
		if isWhiteout(&st) {
			if err := os.RemoveAll(dst); err != nil {
				return fmt.Errorf("applying whiteout: %w", err)
			}
			continue
		}
		if fileType(&st) == unix.S_IFSOCK {
			continue
		}
		if isDir(&st) {
			if err := f.applySubdir(ctx, src, dst, &st); err != nil {
				return err
			}
			continue
		}
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("replacing %s: %w", dst, err)
		}
		if err := f.createNonDir(src, dst, &st); err != nil {
			return err
		}
	}
	return nil
}

func (f *flattener) applySubdir(ctx context.Context, src, dst string, st *unix.Stat_t) error {
	opaque, err := isOpaque(src)
	if err != nil {
		return err
	}
	dstSt, err := lstat(dst)
	switch {
	case err == nil && isDir(&dstSt) && opaque:
		if err := removeChildren(dst); err != nil {
			return err
		}
	case err == nil && isDir(&dstSt):
		// merge into the existing directory
	case err == nil || !errors.Is(err, fs.ErrNotExist):
		if err := os.RemoveAll(dst); err != nil {
			return fmt.Errorf("replacing %s: %w", dst, err)
		}
		fallthrough
	default:
		if err := os.Mkdir(dst, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dst, err)
		}
	}
	if err := f.applyDir(ctx, src, dst); err != nil {
		return err
	}
	// After the children: creating them changed the directory's mtime.
	return copyMeta(src, dst, st, true)
}

func (f *flattener) createNonDir(src, dst string, st *unix.Stat_t) error {
	key := devIno{dev: st.Dev, ino: st.Ino}
	if fileType(st) == unix.S_IFREG && st.Nlink > 1 {
		if first, ok := f.links[key]; ok {
			if err := os.Link(first, dst); err != nil {
				return fmt.Errorf("linking %s: %w", dst, err)
			}
			return nil
		}
		f.links[key] = dst
	}
	switch fileType(st) {
	case unix.S_IFREG:
		if err := copyRegular(src, dst); err != nil {
			return err
		}
	case unix.S_IFLNK:
		target, err := os.Readlink(src)
		if err != nil {
			return fmt.Errorf("reading symlink %s: %w", src, err)
		}
		if err := os.Symlink(target, dst); err != nil {
			return fmt.Errorf("creating symlink %s: %w", dst, err)
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		if err := unix.Mknod(dst, fileType(st)|0o600, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", dst, err)
		}
	default:
		return fmt.Errorf("%s: unsupported file type %#o", src, fileType(st))
	}
	return copyMeta(src, dst, st, false)
}

func copyRegular(src, dst string) error {
	in, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", dst, err)
	}
	return nil
}

func removeChildren(dir string) error {
	names, err := readDirNames(dir)
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	for _, n := range names {
		if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
			return fmt.Errorf("clearing opaque dir: %w", err)
		}
	}
	return nil
}

// copyMeta gives dst the owner, mode, kept xattrs and times of src (whose
// lstat is st). With replaceXattrs, kept xattrs dst has but src lacks are
// removed (directories merged over a lower one).
func copyMeta(src, dst string, st *unix.Stat_t, replaceXattrs bool) error {
	if err := unix.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
		return &pathError{op: "lchown", path: dst, err: err}
	}
	if fileType(st) != unix.S_IFLNK {
		// After chown, which clears setuid/setgid.
		if err := unix.Fchmodat(unix.AT_FDCWD, dst, st.Mode&0o7777, 0); err != nil {
			return &pathError{op: "chmod", path: dst, err: err}
		}
	}
	all, err := readXattrs(src)
	if err != nil {
		return err
	}
	want := filterXattrs(all)
	if replaceXattrs {
		have, err := readXattrs(dst)
		if err != nil {
			return err
		}
		for k := range filterXattrs(have) {
			if _, ok := want[k]; !ok {
				if err := unix.Lremovexattr(dst, k); err != nil && !errors.Is(err, unix.ENODATA) {
					return &pathError{op: "lremovexattr " + k, path: dst, err: err}
				}
			}
		}
	}
	for k, v := range want {
		if err := unix.Lsetxattr(dst, k, []byte(v), 0); err != nil {
			return &pathError{op: "lsetxattr " + k, path: dst, err: err}
		}
	}
	ts := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &pathError{op: "utimensat", path: dst, err: err}
	}
	return nil
}
