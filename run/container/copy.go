package container

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"

	"github.com/hoistbuild/hoist/snapshot"
)

// withRootfs calls fn with the container's root directory: /proc/<pid>/root
// while it runs, else its overlay mounted at <id>/rootfs for the duration of
// fn (the caller must run in a private mount namespace, see
// run.ReexecPrivateMounts, so that a crash cannot leak the mount).
func (r *Runtime) withRootfs(ctx context.Context, ref string, fn func(root string) error) error {
	c, err := r.Get(ctx, ref)
	if err != nil {
		return err
	}
	if c.State.Status == StatusRunning && alive(c.State.Container) {
		root := fmt.Sprintf("/proc/%d/root", c.State.Container.Pid)
		return inContainerTerms(fn(root), root)
	}
	lowers, err := r.lowers(ctx, c)
	if err != nil {
		return err
	}
	dir := r.Dir(c.ID)
	target := filepath.Join(dir, "rootfs")
	if err := snapshot.MountOverlayDirs(lowers, filepath.Join(dir, "upper"), filepath.Join(dir, "work"), target); err != nil {
		return err
	}
	defer snapshot.Unmount(target)
	return inContainerTerms(fn(target), target)
}

// inContainerTerms shows err's paths as the container sees them: without the host path of its root.
func inContainerTerms(err error, root string) error {
	if err == nil || !strings.Contains(err.Error(), root) {
		return err
	}
	return &rootedError{err: err, root: root}
}

type rootedError struct {
	err  error
	root string
}

func (e *rootedError) Error() string { return strings.ReplaceAll(e.err.Error(), e.root, "") }
func (e *rootedError) Unwrap() error { return e.err }

// CopyFrom writes a tar of path inside the container to w (top entry named
// like path's last element). Symlinks in path resolve inside the container.
func (r *Runtime) CopyFrom(ctx context.Context, ref, p string, w io.Writer) error {
	return r.withRootfs(ctx, ref, func(root string) error {
		if !exists(root, p) {
			return &NoSuchPathError{Path: p, Container: ref}
		}
		return WriteTar(root, p, w)
	})
}

// NoSuchPathError is a cp path missing in the container, with docker's message. It is
// fs.ErrNotExist.
type NoSuchPathError struct{ Path, Container string }

func (e *NoSuchPathError) Error() string {
	return fmt.Sprintf("Could not find the file %s in container %s", e.Path, e.Container)
}
func (e *NoSuchPathError) Is(target error) bool { return target == fs.ErrNotExist }

// exists reports whether p exists under root (resolved with chroot semantics).
func exists(root, p string) bool {
	t, err := securejoin.SecureJoin(root, p)
	if err != nil {
		return false
	}
	_, err = os.Lstat(t)
	return err == nil
}

// CopyTo extracts the tar stream into dir inside the container; rename, when
// not empty, replaces the name of the tar's top entry. No entry can land
// outside the container's root, whatever symlinks the container holds.
func (r *Runtime) CopyTo(ctx context.Context, ref, dir, rename string, tr io.Reader) error {
	return r.withRootfs(ctx, ref, func(root string) error {
		if !exists(root, dir) {
			return &NoSuchPathError{Path: dir, Container: ref}
		}
		return ExtractTar(root, dir, rename, tr)
	})
}

// WriteTar writes a tar of p (resolved under root with chroot semantics).
func WriteTar(root, p string, w io.Writer) error {
	clean := path.Clean("/" + p)
	dir, base := path.Dir(clean), path.Base(clean)
	if strings.HasSuffix(p, "/.") || base == "/" {
		dir, base = clean, "." // SRC/. : the directory's contents, under a "." top entry
	}
	parent, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return err
	}
	rt, err := os.OpenRoot(parent)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer rt.Close()
	tw := tar.NewWriter(w)
	err = fs.WalkDir(rt.FS(), base, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := rt.Lstat(name)
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			if link, err = rt.Readlink(name); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = name
		if fi.IsDir() {
			h.Name += "/"
		}
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := rt.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("archiving %s: %w", p, err)
	}
	return tw.Close()
}

// ExtractTar extracts tr into dir under root. Parents resolve with chroot
// semantics; every operation then goes through an os.Root, which refuses to
// follow a symlink out of it.
func ExtractTar(root, dir, rename string, tr io.Reader) error {
	target, err := securejoin.SecureJoin(root, dir)
	if err != nil {
		return err
	}
	if fi, err := os.Stat(target); err != nil || !fi.IsDir() {
		return fmt.Errorf("destination directory %s: %w", dir, errOr(err, syscall.ENOTDIR))
	}
	rt, err := os.OpenRoot(target)
	if err != nil {
		return err
	}
	defer rt.Close()
	type dirTime struct {
		name string
		t    time.Time
	}
	var dirs []dirTime
	rd := tar.NewReader(tr)
	first, topIsDot := true, false
	for {
		h, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading tar: %w", err)
		}
		name := path.Clean(h.Name)
		if name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return fmt.Errorf("refusing tar entry %q outside the destination", h.Name)
		}
		if first {
			first, topIsDot = false, name == "."
		}
		switch {
		case rename != "" && topIsDot: // a SRC/. tar: every entry goes under the new name
			name = path.Join(rename, name)
		case rename != "":
			_, rest, _ := strings.Cut(name, "/")
			name = path.Join(rename, rest)
		}
		if name == "." {
			continue
		}
		if err := rt.MkdirAll(path.Dir(name), 0o755); err != nil && path.Dir(name) != "." {
			return err
		}
		mode := fs.FileMode(h.Mode) & fs.ModePerm
		switch h.Typeflag {
		case tar.TypeDir:
			if err := rt.Mkdir(name, mode); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			dirs = append(dirs, dirTime{name, h.ModTime})
		case tar.TypeReg:
			_ = rt.Remove(name) // replace a file or symlink, never write through it
			f, err := rt.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
			if err != nil {
				return err
			}
			_, cerr := io.Copy(f, rd)
			if err := errors.Join(cerr, f.Close()); err != nil {
				return err
			}
		case tar.TypeSymlink:
			_ = rt.Remove(name)
			if err := rt.Symlink(h.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			_ = rt.Remove(name)
			if err := rt.Link(path.Clean(h.Linkname), name); err != nil {
				return err
			}
		default:
			continue // devices, fifos: not copied
		}
		_ = rt.Lchown(name, h.Uid, h.Gid)
		if h.Typeflag != tar.TypeSymlink {
			_ = rt.Chmod(name, fs.FileMode(h.Mode)&(fs.ModePerm)|modeBits(h.Mode))
			_ = rt.Chtimes(name, h.ModTime, h.ModTime)
		}
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = rt.Chtimes(dirs[i].name, dirs[i].t, dirs[i].t)
	}
	return nil
}

func modeBits(m int64) fs.FileMode {
	var out fs.FileMode
	if m&04000 != 0 {
		out |= fs.ModeSetuid
	}
	if m&02000 != 0 {
		out |= fs.ModeSetgid
	}
	if m&01000 != 0 {
		out |= fs.ModeSticky
	}
	return out
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}

// IsDir reports whether p is a directory inside the container (symlinks
// resolved inside it).
func (r *Runtime) IsDir(ctx context.Context, ref, p string) bool {
	is := false
	_ = r.withRootfs(ctx, ref, func(root string) error {
		t, err := securejoin.SecureJoin(root, p)
		if err == nil {
			fi, err := os.Stat(t)
			is = err == nil && fi.IsDir()
		}
		return nil
	})
	return is
}
