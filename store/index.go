package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The image index, root/images.json:
//
//	{"images": {"sha256:<manifest hex>": {"names": ["docker.io/library/busybox:latest"], "added": "<RFC 3339>"}}}
//
// Names are normalized (NormalizedName) tag references; each name belongs to
// at most one image; an image with no names is dangling. Every
// read-modify-write happens under an exclusive flock on root/store.lock and
// the file is replaced atomically (temp + fsync + rename); readers take a
// shared lock.

type indexData struct {
	Images map[string]*imageRecord `json:"images"`
}

type imageRecord struct {
	Names []string  `json:"names"`
	Added time.Time `json:"added"`
}

// pendingImage is an image to record with its names (already normalized).
type pendingImage struct {
	manifest v1.Hash
	names    []string
}

func (s *Store) loadIndex() (*indexData, error) {
	b, err := os.ReadFile(filepath.Join(s.root, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return &indexData{Images: map[string]*imageRecord{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	var idx indexData
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("parsing image index: %w", err)
	}
	if idx.Images == nil {
		idx.Images = map[string]*imageRecord{}
	}
	for k, r := range idx.Images {
		h, err := v1.NewHash(k)
		if err != nil || validateDigest(h) != nil {
			return nil, fmt.Errorf("parsing image index: bad key %q: %w", k, ErrInvalidDigest)
		}
		if r == nil {
			idx.Images[k] = &imageRecord{Names: []string{}}
		}
	}
	return &idx, nil
}

func encodeIndex(idx *indexData) ([]byte, error) {
	for _, r := range idx.Images {
		if r.Names == nil {
			r.Names = []string{}
		}
	}
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding image index: %w", err)
	}
	return append(b, '\n'), nil
}

// readIndex loads the index under a shared lock.
func (s *Store) readIndex(ctx context.Context) (*indexData, error) {
	unlock, err := s.lockIndex(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.loadIndex()
}

// updateIndex runs fn on the index under the exclusive lock and saves the
// result if fn succeeds.
func (s *Store) updateIndex(ctx context.Context, fn func(*indexData) error) error {
	unlock, err := s.lockIndex(ctx, true)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.loadIndex()
	if err != nil {
		return err
	}
	before, err := encodeIndex(idx)
	if err != nil {
		return err
	}
	if err := fn(idx); err != nil {
		return err
	}
	after, err := encodeIndex(idx)
	if err != nil {
		return err
	}
	if bytes.Equal(before, after) {
		return nil // nothing changed (a rebuild tagging the same image): no write, no fsync
	}
	return s.replaceFile("index", filepath.Join(s.root, indexFile), after)
}

// setName moves normalized name n to image key; the previous holder keeps
// its other names (or becomes dangling).
func (idx *indexData) setName(key, n string) {
	for k, r := range idx.Images {
		if k != key {
			r.Names = slices.DeleteFunc(r.Names, func(x string) bool { return x == n })
		}
	}
	r := idx.Images[key]
	if !slices.Contains(r.Names, n) {
		r.Names = append(r.Names, n)
	}
}

// record adds image key (keeping its existing record) and moves names to it.
func (idx *indexData) record(key string, names []string, now time.Time) {
	if _, ok := idx.Images[key]; !ok {
		idx.Images[key] = &imageRecord{Names: []string{}, Added: now}
	}
	for _, n := range names {
		idx.setName(key, n)
	}
}

// normalizeTags parses every name as a tag and returns the normalized forms.
func normalizeTags(names []string) ([]string, error) {
	out := make([]string, 0, len(names))
	for _, n := range names {
		t, err := parseTag(n)
		if err != nil {
			return nil, err
		}
		out = append(out, NormalizedName(t))
	}
	return out, nil
}

// AddImage records the image whose manifest blob is h (it must already be
// stored: ErrNotFound otherwise) and moves each name to it: a name belongs
// to exactly one image, and the previous holder keeps its other names or
// becomes dangling. Names must be tags (short or full); they are stored
// normalized. Idempotent; atomic; safe for concurrent use across processes.
func (s *Store) AddImage(ctx context.Context, h v1.Hash, names ...string) error {
	if err := validateDigest(h); err != nil {
		return err
	}
	norm, err := normalizeTags(names)
	if err != nil {
		return fmt.Errorf("adding image %s: %w", h, err)
	}
	if _, err := s.configDigest(h); err != nil {
		return fmt.Errorf("adding image %s: %w", h, err)
	}
	return s.recordImages(ctx, []pendingImage{{manifest: h, names: norm}})
}

// recordImages records several images in one atomic index update.
func (s *Store) recordImages(ctx context.Context, imgs []pendingImage) error {
	now := time.Now().UTC()
	err := s.updateIndex(ctx, func(idx *indexData) error {
		for _, p := range imgs {
			idx.record(p.manifest.String(), p.names, now)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("recording images: %w", err)
	}
	return nil
}

// Tag gives newName (a tag) to the image src resolves to (see Resolve),
// moving it away from any other image. Atomic.
func (s *Store) Tag(ctx context.Context, src, newName string) error {
	t, err := parseTag(newName)
	if err != nil {
		return fmt.Errorf("tagging %s: %w", src, err)
	}
	n := NormalizedName(t)
	err = s.updateIndex(ctx, func(idx *indexData) error {
		r, err := s.resolveIn(idx, src)
		if err != nil {
			return err
		}
		idx.setName(r.manifest.String(), n)
		return nil
	})
	if err != nil {
		return fmt.Errorf("tagging %s as %s: %w", src, newName, err)
	}
	return nil
}

// Untag removes name (a tag) from its image; the image record stays, as a
// dangling image if that was its last name (Remove deletes it instead, as
// docker rmi does). Unknown names give ErrNotFound. Atomic.
func (s *Store) Untag(ctx context.Context, nm string) error {
	t, err := parseTag(nm)
	if err != nil {
		return fmt.Errorf("untagging %s: %w", nm, err)
	}
	n := NormalizedName(t)
	err = s.updateIndex(ctx, func(idx *indexData) error {
		for _, r := range idx.Images {
			if i := slices.Index(r.Names, n); i >= 0 {
				r.Names = slices.Delete(r.Names, i, i+1)
				return nil
			}
		}
		return fmt.Errorf("name %s: %w", familiar(n), ErrNotFound)
	})
	if err != nil {
		return fmt.Errorf("untagging %s: %w", nm, err)
	}
	return nil
}

// configDigest returns the image ID of manifest h: its config digest, or for an index (whose
// manifests must all be stored) the index digest, as docker's containerd store.
func (s *Store) configDigest(h v1.Hash) (v1.Hash, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return v1.Hash{}, err
	}
	if isIndexBlob(raw) {
		im, err := parseIndex(raw)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("index %s: %w", h, err)
		}
		if err := s.indexChildrenStored(im); err != nil {
			return v1.Hash{}, fmt.Errorf("index %s: %w", h, err)
		}
		return h, nil
	}
	m, _, err := parseImageManifest(raw)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("manifest %s: %w", h, err)
	}
	return m.Config.Digest, nil
}
