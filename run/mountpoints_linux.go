package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// stubs records the mount points Run had to create in the rootfs, so that
// they can be removed after the run and never end up in an image layer.
//
// Only entries that are still what we created (the same inode, an empty
// directory or an empty regular file) are removed, deepest first. The
// timestamps of the pre-existing directories we created entries in are
// restored, unless the command itself changed those directories.
//
// A stubs is used by one Run, from one goroutine.
type stubs struct {
	created []stubEntry
	parents []stubParent
	sealed  bool // the command may have run since: check before restoring
}

type stubEntry struct {
	path     string
	dir      bool
	dev, ino uint64
}

type stubParent struct {
	path         string
	atime, mtime unix.Timespec // before we created anything in it
	sealed       unix.Timespec // mtime once all stubs were created
}

// ensure resolves target (absolute, inside root) with symlinks scoped to
// root and, if nothing is there, creates it as a directory or an empty file,
// creating missing parent directories too. It returns the resolved host path.
func (s *stubs) ensure(root, target string, dir bool) (string, error) {
	resolved, err := securejoin.SecureJoin(root, target)
	if err != nil {
		return "", fmt.Errorf("resolving %s in rootfs: %w", target, err)
	}
	if _, err := os.Lstat(resolved); err == nil {
		return resolved, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	rel, err := filepath.Rel(root, resolved)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("resolving %s in rootfs: %q is outside %q", target, resolved, root)
	}
	parts := strings.Split(rel, string(filepath.Separator))
	cur := root
	for i, p := range parts {
		next := filepath.Join(cur, p)
		_, err := os.Lstat(next)
		if err == nil {
			cur = next
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		if err := s.rememberParent(cur); err != nil {
			return "", err
		}
		last := i == len(parts)-1
		if err := s.create(next, !last || dir); err != nil {
			return "", fmt.Errorf("creating mount point %s: %w", target, err)
		}
		cur = next
	}
	return resolved, nil
}

// create makes one stub and records it.
func (s *stubs) create(path string, dir bool) error {
	if dir {
		if err := os.Mkdir(path, 0o755); err != nil {
			return err
		}
	} else {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	e := stubEntry{path: path, dir: dir}
	var st unix.Stat_t
	err := unix.Lstat(path, &st)
	if err == nil {
		e.dev, e.ino = st.Dev, st.Ino
		mode := uint32(0o644)
		if dir {
			mode = 0o755
		}
		if st.Mode&0o7777 != mode { // undo the umask
			err = os.Chmod(path, os.FileMode(mode))
		}
	}
	s.created = append(s.created, e) // recorded even on error, so it is removed
	return err
}

// rememberParent records the timestamps of an existing directory before the
// first stub is created in it.
func (s *stubs) rememberParent(dir string) error {
	for _, p := range s.parents {
		if p.path == dir {
			return nil
		}
	}
	for _, c := range s.created {
		if c.path == dir { // a stub itself: it goes away entirely
			return nil
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: dir, Err: err}
	}
	s.parents = append(s.parents, stubParent{path: dir, atime: st.Atim, mtime: st.Mtim})
	return nil
}

// seal records the parents' mtimes after all stubs exist, so remove can tell
// whether the command changed those directories. Before seal, remove restores
// the parents' timestamps unconditionally.
func (s *stubs) seal() error {
	for i := range s.parents {
		var st unix.Stat_t
		if err := unix.Lstat(s.parents[i].path, &st); err != nil {
			return &os.PathError{Op: "lstat", Path: s.parents[i].path, Err: err}
		}
		s.parents[i].sealed = st.Mtim
	}
	s.sealed = true
	return nil
}

// remove deletes the stubs that are still what we created, deepest first,
// and restores the parents' timestamps. It is idempotent.
func (s *stubs) remove() error {
	var errs []error
	unchanged := make([]bool, len(s.parents))
	for i, p := range s.parents {
		var st unix.Stat_t
		unchanged[i] = !s.sealed || unix.Lstat(p.path, &st) == nil && st.Mtim == p.sealed
	}
	for i := len(s.created) - 1; i >= 0; i-- {
		if err := s.created[i].removeIfUnchanged(); err != nil {
			errs = append(errs, err)
		}
	}
	for i, p := range s.parents {
		if !unchanged[i] {
			continue
		}
		ts := []unix.Timespec{p.atime, p.mtime}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p.path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			errs = append(errs, &os.PathError{Op: "utimensat", Path: p.path, Err: err})
		}
	}
	s.created, s.parents, s.sealed = nil, nil, false
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing mount points from rootfs: %w", err)
	}
	return nil
}

// removeIfUnchanged removes e if it is still the empty dir or file we made.
func (e stubEntry) removeIfUnchanged() error {
	var st unix.Stat_t
	if err := unix.Lstat(e.path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &os.PathError{Op: "lstat", Path: e.path, Err: err}
	}
	if st.Dev != e.dev || st.Ino != e.ino {
		return nil // replaced by the command: now it is the command's
	}
	if e.dir {
		err := unix.Rmdir(e.path)
		if err == nil || errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			return nil // not empty: the command put something there, keep it
		}
		if errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount point %s is still in use: %w", e.path, err)
		}
		return &os.PathError{Op: "rmdir", Path: e.path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != 0 {
		return nil
	}
	if err := unix.Unlink(e.path); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "unlink", Path: e.path, Err: err}
	}
	return nil
}
