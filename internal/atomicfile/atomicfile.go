// Package atomicfile replaces files so that readers see the old content or
// the new, whole, never a part, and so that a write that returned survives a
// crash: the umoci/store discipline (temp file in the same directory, fsync,
// rename, fsync of the directory) in one place.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data and mode perm. On failure path is left
// as it was and no temp file remains.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path with what fill writes, with mode perm: fill writes to
// a temp file in path's directory, which is then fsynced, renamed over path,
// and the directory fsynced. When fill (or any step) fails, path is left as
// it was and the temp file is removed. fill must not keep w.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs directory dir, so that the entries created, renamed or
// removed in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// Rename moves oldpath (a file or a whole directory) to newpath and makes the
// move durable: after the rename it fsyncs newpath's parent directory and,
// when it is another one, oldpath's, so that after a crash the entry is in
// one place, not both or neither. It does not sync what it moves: a
// directory's content is the caller's to make durable first. The rename's
// own error is returned as os.Rename gives it (callers test it with
// errors.Is for fs.ErrNotExist, EEXIST, ...).
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return err
	}
	from, to := filepath.Dir(filepath.Clean(oldpath)), filepath.Dir(filepath.Clean(newpath))
	if err := SyncDir(to); err != nil {
		return err
	}
	if from != to {
		return SyncDir(from)
	}
	return nil
}
