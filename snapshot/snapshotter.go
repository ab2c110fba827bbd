//go:build linux

package snapshot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/opencontainers/umoci/oci/layer"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/atomicfile"
	"github.com/hoistbuild/hoist/internal/ctxio"
)

// Snapshotter manages unpacked layers under one root directory (see the
// package documentation for the layout). All methods are safe for
// concurrent use, also by several processes sharing the same root.
type Snapshotter struct {
	root string
	boot []byte // the kernel boot ID snapshots are marked with (see durability.go)

	overlayOnce sync.Once
	overlayOK   bool

	forced     Driver // WithDriver; "" probes
	driverOnce sync.Once
	driver     DriverStatus
	driverErr  error
}

// New opens (creating if needed) the snapshot store rooted at root,
// conventionally <hoistroot>/snapshots, and removes temp entries left by
// dead processes. Nothing outside root is touched.
func New(root string, opts ...Option) (*Snapshotter, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving snapshot root %s: %w", root, err)
	}
	s := &Snapshotter{root: abs, boot: currentBootID()}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{abs, s.tmpDir(), s.emptyDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s: %w", d, err)
		}
	}
	if err := cleanStaleTemps(s.tmpDir()); err != nil {
		return nil, fmt.Errorf("cleaning stale temp dirs: %w", err)
	}
	return s, nil
}

// Root returns the absolute root directory of the store.
func (s *Snapshotter) Root() string { return s.root }

func (s *Snapshotter) tmpDir() string   { return filepath.Join(s.root, "tmp") }
func (s *Snapshotter) emptyDir() string { return filepath.Join(s.root, "empty") }

func (s *Snapshotter) snapDir(chainID v1.Hash) (string, error) {
	if err := validHash(chainID); err != nil {
		return "", err
	}
	return filepath.Join(s.root, chainID.Hex), nil
}

// FSPath returns <root>/<chainIDhex>/fs, the lower directory of chainID,
// whether or not it exists. It fails only for a malformed chain ID.
func (s *Snapshotter) FSPath(chainID v1.Hash) (string, error) {
	d, err := s.snapDir(chainID)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "fs"), nil
}

// Has reports whether the snapshot for chainID is complete on disk.
// Malformed chain IDs are never present.
func (s *Snapshotter) Has(chainID v1.Hash) bool {
	p, err := s.FSPath(chainID)
	if err != nil {
		return false
	}
	fi, err := os.Lstat(p)
	return err == nil && fi.IsDir() && s.trusted(filepath.Dir(p))
}

// Ensure makes sure every prefix of the layer chain (base first) is unpacked
// and returns the fs directories, base first, ready to be used as overlay
// lowers. A layer whose <root>/<chainIDhex>/fs exists is not read at all;
// the others are read via Uncompressed(), extracted with umoci in overlayfs
// format into a temp dir under root, checked against their DiffID and moved
// into place with one rename. Ensure is idempotent; concurrent calls for
// the same chain, also from other processes, all succeed (the loser of a
// rename race discards its copy). If the uncompressed stream does not hash
// to the layer's DiffID, nothing is kept and the error wraps
// ErrDiffIDMismatch.
func (s *Snapshotter) Ensure(ctx context.Context, layers []v1.Layer) ([]string, error) {
	diffIDs := make([]v1.Hash, len(layers))
	for i, l := range layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("getting diffid of layer %d: %w", i, err)
		}
		diffIDs[i] = d
	}
	chain := ChainIDs(diffIDs)
	dirs := make([]string, len(layers))
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fsDir, err := s.FSPath(chain[i])
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		dirs[i] = fsDir
		if s.Has(chain[i]) {
			continue
		}
		var parent v1.Hash
		if i > 0 {
			parent = chain[i-1]
		}
		if err := s.unpack(ctx, l, chain[i], diffIDs[i], parent); err != nil {
			return nil, fmt.Errorf("unpacking layer %s: %w", diffIDs[i], err)
		}
	}
	return dirs, nil
}

func (s *Snapshotter) unpack(ctx context.Context, l v1.Layer, chainID, diffID, parent v1.Hash) (err error) {
	final, err := s.snapDir(chainID)
	if err != nil {
		return err
	}
	t, err := newTemp(s.tmpDir(), "unpack-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := t.release(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	fsDir := filepath.Join(t.dir, "fs")
	if err := os.Mkdir(fsDir, 0o755); err != nil {
		return fmt.Errorf("creating fs dir: %w", err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("opening uncompressed stream: %w", err)
	}
	defer rc.Close()
	h := sha256.New()
	tee := io.TeeReader(rc, h)
	if err := extract(ctx, tee, fsDir, layer.OverlayfsRootfs{}, true); err != nil {
		// A damaged blob usually breaks the decompressor or the tar reader before its digest can be
		// checked at the end: check the compressed bytes now, so the error says what is wrong.
		if cerr := verifyCompressed(l); cerr != nil {
			return fmt.Errorf("the layer blob is corrupt: %w", cerr)
		}
		return err
	}
	// Hash the tar trailer and anything after it too: the DiffID covers
	// the whole stream.
	if _, err := io.Copy(io.Discard, ctxio.Reader(ctx, tee)); err != nil {
		return fmt.Errorf("reading layer stream: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); diffID.Algorithm != "sha256" || got != diffID.Hex {
		return fmt.Errorf("got sha256:%s, want %s: %w", got, diffID, ErrDiffIDMismatch)
	}
	return s.commitTemp(t, final, diffID, parent)
}

// syncFS flushes the filesystem holding dir so a renamed snapshot is
// durable, not just visible.
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s for syncfs: %w", dir, err)
	}
	defer f.Close()
	if err := unix.Syncfs(int(f.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

// Remove deletes the snapshot of chainID. It first renames the snapshot into
// a temp dir, so readers never see a partial snapshot, then deletes it.
// Removing an absent snapshot is not an error (Remove is idempotent). The
// caller must ensure no mount uses the snapshot as a lower dir.
func (s *Snapshotter) Remove(ctx context.Context, chainID v1.Hash) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dir, err := s.snapDir(chainID)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	t, err := newTemp(s.tmpDir(), "rm-")
	if err != nil {
		return err
	}
	if err := atomicfile.Rename(dir, filepath.Join(t.dir, "victim")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.release()
		return fmt.Errorf("removing snapshot %s: %w", chainID, err)
	}
	if err := t.release(); err != nil {
		return fmt.Errorf("removing snapshot %s: %w", chainID, err)
	}
	return nil
}

// validHash accepts only "sha256:<64 lowercase hex>", so a chain ID can
// never name a path outside the root.
func validHash(h v1.Hash) error {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 {
		return fmt.Errorf("%q: %w", h.String(), ErrInvalidChainID)
	}
	for _, c := range h.Hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return fmt.Errorf("%q: %w", h.String(), ErrInvalidChainID)
		}
	}
	return nil
}

// verifyCompressed reads a layer's compressed bytes through its (verifying) reader.
func verifyCompressed(l v1.Layer) error {
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}

// commitTemp completes a snapshot being made in t (its fs/ already filled): it records the diffID,
// the parent chain ID and the boot, then moves it into place with one rename. Losing the rename to a
// concurrent maker of the same snapshot is success (the caller's release discards t).
func (s *Snapshotter) commitTemp(t *tempEntry, final string, diffID, parent v1.Hash) error {
	if err := os.WriteFile(filepath.Join(t.dir, "diffid"), []byte(diffID.String()), 0o644); err != nil {
		return fmt.Errorf("writing diffid: %w", err)
	}
	parentStr := ""
	if parent != (v1.Hash{}) {
		parentStr = parent.String()
	}
	if err := os.WriteFile(filepath.Join(t.dir, "parent"), []byte(parentStr), 0o644); err != nil {
		return fmt.Errorf("writing parent: %w", err)
	}
	if err := s.markBoot(t.dir); err != nil {
		return err
	}
	if err := atomicfile.Rename(t.dir, final); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			return nil
		}
		return fmt.Errorf("moving snapshot into place: %w", err)
	}
	return nil
}
