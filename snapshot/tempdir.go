//go:build linux

package snapshot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

const lockSuffix = ".lock"

// tempEntry is a directory under <root>/tmp owned by this process for as
// long as its lock file is flock'ed (see the package documentation).
type tempEntry struct {
	dir      string
	lockPath string
	lock     *os.File
}

// newTemp creates <tmpDir>/<prefix><random> and its held lock file.
func newTemp(tmpDir, prefix string) (*tempEntry, error) {
	for attempt := 0; attempt < 16; attempt++ {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("generating temp name: %w", err)
		}
		name := prefix + hex.EncodeToString(b[:])
		lockPath := filepath.Join(tmpDir, name+lockSuffix)
		f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating lock file: %w", err)
		}
		if err := flock(f, unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", lockPath, err)
		}
		if !stillNamed(f, lockPath) {
			// A cleaner took the unlocked file for a dead owner's and
			// removed it before we locked it: start over with a new name.
			f.Close()
			continue
		}
		dir := filepath.Join(tmpDir, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			os.Remove(lockPath)
			f.Close()
			return nil, fmt.Errorf("creating temp dir: %w", err)
		}
		return &tempEntry{dir: dir, lockPath: lockPath, lock: f}, nil
	}
	return nil, fmt.Errorf("creating temp dir in %s: too many collisions", tmpDir)
}

// release removes whatever is left of the temp dir, then drops the lock.
// It is safe to call after the dir was renamed away, and more than once.
func (t *tempEntry) release() error {
	if t.lock == nil {
		return nil
	}
	err := removeAllUnmounting(t.dir)
	if err == nil {
		os.Remove(t.lockPath)
	}
	// On error the lock file stays behind, unlocked, so a later cleaner
	// retries the removal.
	t.lock.Close()
	t.lock = nil
	return err
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// stillNamed reports whether path still names the inode open as f.
func stillNamed(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Lstat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// cleanStaleTemps removes entries of tmpDir left behind by dead owners.
func cleanStaleTemps(tmpDir string) error {
	names, err := readDirNames(tmpDir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", tmpDir, err)
	}
	var errs []error
	for _, name := range names {
		if base, ok := strings.CutSuffix(name, lockSuffix); ok {
			if err := cleanLocked(tmpDir, base); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if _, err := os.Lstat(filepath.Join(tmpDir, name+lockSuffix)); errors.Is(err, fs.ErrNotExist) {
			// Owners create the lock before the dir and remove the dir
			// before the lock: a dir without a lock file is an orphan.
			if err := removeAllUnmounting(filepath.Join(tmpDir, name)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func cleanLocked(tmpDir, base string) error {
	lockPath := filepath.Join(tmpDir, base+lockSuffix)
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening %s: %w", lockPath, err)
	}
	defer f.Close()
	if err := flock(f, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // owner alive
		}
		return fmt.Errorf("locking %s: %w", lockPath, err)
	}
	if !stillNamed(f, lockPath) {
		return nil // owner finished and someone else recreated nothing here
	}
	if err := removeAllUnmounting(filepath.Join(tmpDir, base)); err != nil {
		return err
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", lockPath, err)
	}
	return nil
}

// removeAllUnmounting detaches any mount at or below dir (a probe or a
// caller's mount left by a killed process) and removes dir.
func removeAllUnmounting(dir string) error {
	mounts, err := mountinfo.GetMounts(mountinfo.PrefixFilter(dir))
	if err == nil && len(mounts) > 0 {
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i].Mountpoint) > len(mounts[j].Mountpoint) })
		for _, m := range mounts {
			_ = unix.Unmount(m.Mountpoint, unix.MNT_DETACH)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing %s: %w", dir, err)
	}
	return nil
}
