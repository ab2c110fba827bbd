package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const gcLockFile = "gc.lock"

// GCLock coordinates garbage collection with writers. Anything that writes blobs that no recorded
// image references yet (a build, a pull, a load) holds it shared for its whole duration; garbage
// collection holds it exclusively, so it never deletes a blob a running build is about to reference.
// It waits (honouring ctx) and returns the function that releases it.
func (s *Store) GCLock(ctx context.Context, exclusive bool) (func(), error) {
	return s.lockFile(ctx, gcLockFile, exclusive)
}

// ReferencedBlobs returns every blob a recorded image uses: manifests, configs and layers.
func (s *Store) ReferencedBlobs(ctx context.Context) (map[v1.Hash]bool, error) {
	idx, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	refs := map[v1.Hash]bool{}
	for key := range idx.Images {
		h, err := v1.NewHash(key)
		if err != nil {
			continue
		}
		refs[h] = true
		manifests := []v1.Hash{h}
		if isIdx, err := s.IsIndex(h); err != nil {
			return nil, fmt.Errorf("reading image %s: %w", h, err)
		} else if isIdx {
			im, _, err := s.IndexManifest(h)
			if err != nil {
				return nil, err
			}
			manifests = manifests[:0]
			for _, d := range im.Manifests {
				refs[d.Digest] = true
				manifests = append(manifests, d.Digest)
			}
		}
		for _, mh := range manifests {
			if err := s.markImage(refs, mh); err != nil {
				return nil, err
			}
		}
	}
	return refs, nil
}

// markImage marks the config and layers of image manifest h as referenced.
func (s *Store) markImage(refs map[v1.Hash]bool, h v1.Hash) error {
	img, err := s.Image(h)
	if err != nil {
		return fmt.Errorf("reading image %s: %w", h, err)
	}
	m, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("reading manifest %s: %w", h, err)
	}
	refs[m.Config.Digest] = true
	for _, l := range m.Layers {
		refs[l.Digest] = true
	}
	return nil
}

// BlobInfo describes a stored or remote-backed blob for garbage collection and disk usage.
type BlobInfo struct {
	Digest v1.Hash
	// Size is the blob's size: on disk, or as recorded for a remote-backed blob.
	Size    int64
	ModTime time.Time
	// Remote is set for a remote-backed blob the store has not fetched: it takes no space here.
	Remote bool
}

// Blobs lists every stored blob, then every remote-backed blob that is not stored.
func (s *Store) Blobs() ([]BlobInfo, error) {
	local, err := listDir(filepath.Join(s.root, blobsDir, "sha256"), "", false)
	if err != nil {
		return nil, err
	}
	remote, err := listDir(filepath.Join(s.root, lazyDir, "sha256"), ".json", true)
	if err != nil {
		return nil, err
	}
	for _, b := range remote {
		if s.HasBlob(b.Digest) {
			continue
		}
		rec, err := s.readRemote(b.Digest)
		if err != nil {
			continue // a record being replaced or a broken one: DeleteBlob still removes it
		}
		b.Size = rec.Size
		local = append(local, b)
	}
	return local, nil
}

// listDir lists the files <hex><suffix> of dir.
func listDir(dir, suffix string, remote bool) ([]BlobInfo, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]BlobInfo, 0, len(entries))
	for _, e := range entries {
		hx, ok := strings.CutSuffix(e.Name(), suffix)
		h := v1.Hash{Algorithm: "sha256", Hex: hx}
		if !ok || validateDigest(h) != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, BlobInfo{Digest: h, Size: fi.Size(), ModTime: fi.ModTime(), Remote: remote})
	}
	return out, nil
}

// DeleteBlob removes a blob and its remote-backed record. The caller must hold GCLock exclusively and
// must have checked that no image references it. Deleting a missing blob is not an error.
func (s *Store) DeleteBlob(h v1.Hash) error {
	if err := validateDigest(h); err != nil {
		return err
	}
	for _, p := range []string{s.BlobPath(h), s.remotePath(h)} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
