// Package store is hoist's local image store: a content-addressed blob
// store (sha256 only, modelled on umoci's oci/cas/dir) plus an index of
// images and the names that point at them.
//
// On-disk layout under the root directory (the store owns only these
// entries; snapshots/, cache/, containers/ and anything else under root
// belong to other packages and are never touched):
//
//	<root>/blobs/sha256/<hex>       immutable blobs, written by temp file + fsync + rename
//	<root>/lazy/sha256/<hex>.json   where a remote-backed blob can be fetched (see lazy.go)
//	<root>/images.json              the image index (see index.go), replaced atomically
//	<root>/store.lock, gc.lock      flock(2) targets: index read-modify-write, garbage collection
//	<root>/tmp/                     temp files of in-flight writes
//
// Temp files: every temp file is created in <root>/tmp and exclusively
// flock(2)ed by the writer for as long as it is open. A temp file whose lock
// can be taken by somebody else therefore has no live writer (its process
// died or forgot to close it); Open removes such files. Locks are per open
// file description, so this is safe against other goroutines, other
// processes and pid reuse alike.
//
// A *Store is safe for concurrent use by multiple goroutines and by several
// processes sharing the same root.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/singleflight"
	"golang.org/x/sys/unix"
)

// Sentinel errors. Errors returned by this package wrap one of these where
// applicable; test with errors.Is.
var (
	// ErrNotFound means the blob, image or name does not exist in the store.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means content does not match its digest (or declared size).
	ErrCorrupt = errors.New("content does not match digest")
	// ErrInvalidDigest means a digest is not a well-formed sha256 digest.
	ErrInvalidDigest = errors.New("invalid digest")
	// ErrInvalidName means a string is not a valid image reference for the
	// operation (for example a digest reference where a tag is required).
	ErrInvalidName = errors.New("invalid reference")
	// ErrAmbiguous means a short image ID or image ID matches several images.
	ErrAmbiguous = errors.New("ambiguous reference")
	// ErrConflict means the operation needs force (docker rmi semantics).
	ErrConflict = errors.New("conflict")
	// ErrUnsupported means a media type or archive format this store cannot handle.
	ErrUnsupported = errors.New("unsupported")
)

const (
	blobsDir  = "blobs"
	tmpDir    = "tmp"
	indexFile = "images.json"
	lockFile  = "store.lock"
)

// Store is a handle on an image store rooted at a directory. It holds no
// open files or locks between calls; the zero value is not usable, use Open.
type Store struct {
	root    string
	fetcher Fetcher            // nil: remote-backed blobs cannot be read
	fetches singleflight.Group // in-flight fetches by blob hex
	users   Users              // nil: no image is protected from Remove and prunes
}

// Open creates (if needed) the store directories under root and removes
// stale temp files left in root/tmp by writers that no longer exist.
// Opening the same root several times, from one or several processes, is
// allowed.
func Open(root string, opts ...Option) (*Store, error) {
	if root == "" {
		return nil, errors.New("opening store: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", root, err)
	}
	s := &Store{root: abs}
	for _, o := range opts {
		o(s)
	}
	if err := os.MkdirAll(abs, 0o711); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, blobsDir, "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	if err := s.cleanTemp(); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	return s, nil
}

// Root returns the absolute root directory of the store.
func (s *Store) Root() string { return s.root }

// cleanTemp removes every regular file in root/tmp whose flock can be taken,
// i.e. whose writer is gone. Files held by live writers are left alone.
func (s *Store) cleanTemp() error {
	dir := filepath.Join(s.root, tmpDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cleaning temp dir: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := removeIfUnlocked(p); err != nil {
			return fmt.Errorf("cleaning temp file %s: %w", p, err)
		}
	}
	return nil
}

func removeIfUnlocked(p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil // a live writer holds it
		}
		return err
	}
	// Only remove the file if the path still names the inode we locked.
	if same, err := samePath(f, p); err != nil || !same {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func samePath(f *os.File, p string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// createTemp creates a new exclusively flocked temp file in root/tmp. The
// lock lives as long as the returned file is open.
func (s *Store) createTemp(prefix string) (*os.File, error) {
	dir := filepath.Join(s.root, tmpDir)
	for range 100 {
		f, err := os.CreateTemp(dir, prefix+"-*")
		if err != nil {
			return nil, fmt.Errorf("creating temp file: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			// A concurrent cleanTemp locked it first and will remove it.
			f.Close()
			continue
		}
		same, err := samePath(f, f.Name())
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, fmt.Errorf("creating temp file: %w", err)
		}
		if !same {
			f.Close() // removed by a concurrent cleanTemp before we locked it
			continue
		}
		return f, nil
	}
	return nil, errors.New("creating temp file: too many collisions with temp cleanup")
}

// replaceFile atomically replaces dst (in a directory of the root) with data: a temp file in root/tmp
// (prefix names it), fsync, rename, fsync of dst's directory. Readers see the old or the new content.
func (s *Store) replaceFile(prefix, dst string, data []byte) error {
	f, err := s.createTemp(prefix)
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	ok = true
	f.Close()
	return syncDir(filepath.Dir(dst))
}

// lockIndex takes a flock on root/store.lock (exclusive or shared) and
// returns the function releasing it. It polls so that ctx cancellation is
// honoured while waiting.
func (s *Store) lockIndex(ctx context.Context, exclusive bool) (func(), error) {
	return s.lockFile(ctx, lockFile, exclusive)
}

// lockFile takes a flock on root/name, polling so that ctx cancellation is honoured while waiting.
func (s *Store) lockFile(ctx context.Context, name string, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, name), os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening store lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	wait := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking store: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("locking store: %w", ctx.Err())
		case <-t.C:
		}
		if wait < 20*time.Millisecond {
			wait *= 2
		}
	}
}

// syncDir fsyncs a directory so that a rename into it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
