package container

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/binfmt"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// Errors callers test with errors.Is.
var (
	ErrNotFound   = errors.New("no such container")
	ErrNameInUse  = errors.New("container name already in use")
	ErrAmbiguous  = errors.New("ambiguous container reference")
	ErrRunning    = errors.New("container is running")
	ErrNotRunning = errors.New("container is not running")
	ErrBadName    = errors.New("invalid container name")
)

// validName is docker's rule for container names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Runtime manages the containers under one hoist root. Its methods are
// safe for concurrent use, also by several processes sharing the root.
type Runtime struct {
	root  string // <hoistroot>/containers
	hroot string
	store *store.Store
	snaps *snapshot.Snapshotter
	// binfmt tells which platforms' programs can run here (natively or emulated).
	binfmt binfmt.Checker
}

// Open returns the runtime of hoist root dir (creating its directories).
func Open(root string, st *store.Store) (*Runtime, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	r := &Runtime{root: filepath.Join(abs, "containers"), hroot: abs, store: st}
	for _, d := range []string{r.root, filepath.Join(abs, "volumes")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return r, nil
}

func (r *Runtime) snapshotter() (*snapshot.Snapshotter, error) {
	if r.snaps != nil {
		return r.snaps, nil
	}
	s, err := snapshot.New(filepath.Join(r.hroot, "snapshots"))
	if err != nil {
		return nil, err
	}
	r.snaps = s
	return s, nil
}

// Dir is the state directory of container id.
func (r *Runtime) Dir(id string) string { return filepath.Join(r.root, id) }

func (r *Runtime) file(id string) string { return filepath.Join(r.Dir(id), "container.json") }

// LogPath is where the container's json-file log lives.
func (r *Runtime) LogPath(id string) string { return filepath.Join(r.Dir(id), id+"-json.log") }

// flock takes an exclusive lock on path (created if needed) and returns the unlock.
func flock(ctx context.Context, path string) (func(), error) {
	return flockMode(ctx, path, unix.LOCK_EX)
}

// flockMode is flock with the lock's mode (unix.LOCK_EX or unix.LOCK_SH).
func flockMode(ctx context.Context, path string, mode int) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := unix.Flock(int(f.Fd()), mode)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EINTR) || ctx.Err() != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
	}
	return func() { f.Close() }, nil
}

// lockNames serializes the operations that change names (create, rename, rm).
func (r *Runtime) lockNames(ctx context.Context) (func(), error) {
	return flock(ctx, filepath.Join(r.root, ".names.lock"))
}

func (r *Runtime) lock(ctx context.Context, id string) (func(), error) {
	return flock(ctx, filepath.Join(r.Dir(id), ".lock"))
}

// read loads a container without locking or reconciling.
func (r *Runtime) read(id string) (*Container, error) {
	data, err := os.ReadFile(r.file(id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		return nil, err
	}
	var c Container
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("reading container %s: %w", id, err)
	}
	return &c, nil
}

// write stores c atomically (temp file, fsync, rename).
func (r *Runtime) write(c *Container) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(r.file(c.ID), data, 0o600); err != nil {
		return fmt.Errorf("writing container state: %w", err)
	}
	return nil
}

// update applies fn to the stored container under its lock and stores the
// result (unless fn fails).
func (r *Runtime) update(ctx context.Context, id string, fn func(*Container) error) (*Container, error) {
	unlock, err := r.lock(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	c, err := r.read(id)
	if err != nil {
		return nil, err
	}
	if err := fn(c); err != nil {
		return c, err
	}
	return c, r.write(c)
}

// ids lists the container directories.
func (r *Runtime) ids() ([]string, error) {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) == 64 {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// List returns every container, newest first, with states reconciled.
func (r *Runtime) List(ctx context.Context) ([]*Container, error) {
	ids, err := r.ids()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, id := range ids {
		c, err := r.reconcile(ctx, id)
		if err != nil {
			if errors.Is(err, ErrNotFound) {
				continue // removed meanwhile, or not yet written
			}
			return nil, err
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// resolve finds the ID for ref: a full ID, a name (with or without the
// leading "/"), or a unique ID prefix, in docker's order.
func (r *Runtime) resolve(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("%w: %q", ErrNotFound, ref)
	}
	ids, err := r.ids()
	if err != nil {
		return "", err
	}
	name := strings.TrimPrefix(ref, "/")
	for _, id := range ids {
		if id == ref {
			return id, nil
		}
	}
	for _, id := range ids {
		if c, err := r.read(id); err == nil && c.Name == name {
			return id, nil
		}
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	return "", fmt.Errorf("%w: %s matches %d containers", ErrAmbiguous, ref, len(match))
}

// Get returns the container ref names, its state reconciled.
func (r *Runtime) Get(ctx context.Context, ref string) (*Container, error) {
	id, err := r.resolve(ref)
	if err != nil {
		return nil, err
	}
	return r.reconcile(ctx, id)
}

// nameTaken reports whether a container other than except is called name.
func (r *Runtime) nameTaken(name, except string) (string, bool) {
	ids, _ := r.ids()
	for _, id := range ids {
		if id == except {
			continue
		}
		if c, err := r.read(id); err == nil && c.Name == name {
			return id, true
		}
	}
	return "", false
}

// Rename gives the container ref the name newName.
func (r *Runtime) Rename(ctx context.Context, ref, newName string) error {
	newName = strings.TrimPrefix(newName, "/")
	if !validName.MatchString(newName) {
		return fmt.Errorf("%w: %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrBadName, newName)
	}
	unlock, err := r.lockNames(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	id, err := r.resolve(ref)
	if err != nil {
		return err
	}
	if other, taken := r.nameTaken(newName, id); taken {
		return fmt.Errorf("%w: the container name \"/%s\" is already in use by container %q", ErrNameInUse, newName, other)
	}
	_, err = r.update(ctx, id, func(c *Container) error {
		if c.Name == newName {
			return fmt.Errorf("renaming container %s: the new name is the old one", ref)
		}
		c.Name = newName
		return nil
	})
	return err
}

// newID returns 64 random hex digits whose 12-digit short form is not all
// digits (docker's rule, so a short ID never looks like a number).
func newID() (string, error) {
	for {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		id := hex.EncodeToString(b[:])
		if strings.Trim(id[:12], "0123456789") != "" {
			return id, nil
		}
	}
}
