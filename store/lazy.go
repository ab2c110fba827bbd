package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Remote-backed blobs.
//
// A build that reuses a step result from a registry cache (--cache-from) does not download its layer:
// as BuildKit does with cache imports, it records where the blob can be fetched (AddRemote), and the
// image it writes references the blob without the store holding its bytes. The bytes are fetched the
// first time something reads the blob (OpenBlob): running a container, saving, pushing where the
// registry cannot mount the blob, unpacking it for a later build step. They enter the store exactly as
// every blob does, verified against the recorded digest and size, through a temp file and a rename. So
// the store's invariant is: every blob a stored manifest references is present or remote-backed.
//
// A record is a small JSON file, root/lazy/sha256/<hex>.json, replaced atomically. It is kept after
// the blob is fetched (a pushed blob can then still be mounted from its repository) and deleted with
// the blob by garbage collection.

const lazyDir = "lazy"

// RemoteSource is where a remote-backed blob can be fetched from.
type RemoteSource struct {
	// Repository is the registry repository that has the blob, "host[:port]/path".
	Repository string `json:"repository"`
	// Insecure records that the registry was used over plain HTTP or with unverified TLS, so the
	// fetch may do the same.
	Insecure bool `json:"insecure,omitempty"`
}

// Fetcher returns the content of blob desc from src; the store verifies it against desc's digest and
// size and closes the reader. It takes no context: the readers that need a blob (ggcr's
// v1.Layer.Compressed, Uncompressed) have none to give, so a Fetcher is bound to one when it is made,
// as ggcr binds its lazy remote layers with remote.WithContext. It must be safe for concurrent use.
type Fetcher func(src RemoteSource, desc v1.Descriptor) (io.ReadCloser, error)

// Option configures Open.
type Option func(*Store)

// WithFetcher lets the store fetch remote-backed blobs with f when they are first read. Without a
// Fetcher, reading one fails with an error wrapping ErrNotFound.
func WithFetcher(f Fetcher) Option { return func(s *Store) { s.fetcher = f } }

// remoteRecord is the content of a record file.
type remoteRecord struct {
	Digest    v1.Hash         `json:"digest"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
	RemoteSource
}

func (s *Store) remotePath(h v1.Hash) string {
	return filepath.Join(s.root, lazyDir, h.Algorithm, h.Hex+".json")
}

// AddRemote records that blob desc can be fetched from src, so that images may reference it while the
// store lacks its bytes. The latest source given replaces an earlier one; a blob already present
// needs no record and gets none. Atomic; idempotent.
func (s *Store) AddRemote(desc v1.Descriptor, src RemoteSource) error {
	if err := validateDigest(desc.Digest); err != nil {
		return err
	}
	if desc.Size < 0 {
		return fmt.Errorf("recording remote blob %s: negative size %d", desc.Digest, desc.Size)
	}
	if s.HasBlob(desc.Digest) {
		return nil
	}
	rec := remoteRecord{Digest: desc.Digest, Size: desc.Size, MediaType: desc.MediaType, RemoteSource: src}
	if old, err := s.readRemote(desc.Digest); err == nil && old == rec {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	p := s.remotePath(desc.Digest)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("recording remote blob %s: %w", desc.Digest, err)
	}
	if err := s.replaceFile("lazy", p, append(b, '\n')); err != nil {
		return fmt.Errorf("recording remote blob %s: %w", desc.Digest, err)
	}
	return nil
}

// Remote returns the descriptor and source recorded for blob h by AddRemote, whether or not the blob
// has been fetched since. A blob without a record gives an error wrapping ErrNotFound.
func (s *Store) Remote(h v1.Hash) (v1.Descriptor, RemoteSource, error) {
	if err := validateDigest(h); err != nil {
		return v1.Descriptor{}, RemoteSource{}, err
	}
	rec, err := s.readRemote(h)
	if err != nil {
		return v1.Descriptor{}, RemoteSource{}, err
	}
	return v1.Descriptor{Digest: rec.Digest, Size: rec.Size, MediaType: rec.MediaType}, rec.RemoteSource, nil
}

// readRemote reads the record of h (a valid digest).
func (s *Store) readRemote(h v1.Hash) (remoteRecord, error) {
	b, err := os.ReadFile(s.remotePath(h))
	if errors.Is(err, os.ErrNotExist) {
		return remoteRecord{}, fmt.Errorf("remote blob %s: %w", h, ErrNotFound)
	}
	if err != nil {
		return remoteRecord{}, fmt.Errorf("reading remote blob record %s: %w", h, err)
	}
	var rec remoteRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return remoteRecord{}, fmt.Errorf("parsing remote blob record %s: %w", h, err)
	}
	if rec.Digest != h {
		return remoteRecord{}, fmt.Errorf("remote blob record %s names %s: %w", h, rec.Digest, ErrCorrupt)
	}
	return rec, nil
}

// Available reports whether blob h is present or remote-backed: what a manifest written to the store
// may reference.
func (s *Store) Available(h v1.Hash) bool {
	if validateDigest(h) != nil {
		return false
	}
	if s.HasBlob(h) {
		return true
	}
	_, err := os.Stat(s.remotePath(h))
	return err == nil
}

// FetchImage fetches the remote-backed layers of the image whose manifest is h that the store lacks,
// so that the image no longer needs a registry: a container's layers are read later by processes
// (the container monitor) that cannot fetch. ctx cancels the copies.
func (s *Store) FetchImage(ctx context.Context, h v1.Hash) error {
	img, err := s.imageCore(h)
	if err != nil {
		return err
	}
	for _, l := range img.manifest.Layers {
		if !s.HasBlob(l.Digest) {
			if err := s.fetch(ctx, l.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// fetch stores remote-backed blob h with the Fetcher. Concurrent fetches of one blob in this process
// share one download (and the context of the first); across processes each downloads and the atomic
// rename makes the last one win with the same bytes. A failed or cancelled fetch leaves nothing
// behind: the bytes are committed only once verified against the record's digest and size.
func (s *Store) fetch(ctx context.Context, h v1.Hash) error {
	rec, err := s.readRemote(h)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("blob %s: %w", h, ErrNotFound)
	} else if err != nil {
		return err
	}
	if s.fetcher == nil {
		return fmt.Errorf("%s %s is not in the local store and nothing here can fetch it from %s: %w", rec.noun(), h, rec.Repository, ErrNotFound)
	}
	_, err, _ = s.fetches.Do(h.Hex, func() (any, error) {
		if s.HasBlob(h) {
			return nil, nil // a concurrent fetch has just finished
		}
		rc, err := s.fetcher(rec.RemoteSource, v1.Descriptor{Digest: rec.Digest, Size: rec.Size, MediaType: rec.MediaType})
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		_, _, err = s.writeBlob(ctx, rc, rec.Digest, rec.Size)
		return nil, err
	})
	if err != nil {
		return fmt.Errorf("%s %s is not in the local store and fetching it from %s failed: %w", rec.noun(), h, rec.Repository, err)
	}
	return nil
}

// noun names the record's blob in messages.
func (r remoteRecord) noun() string {
	if r.MediaType.IsLayer() {
		return "layer"
	}
	return "blob"
}
