package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

type resolveKind int

const (
	byName   resolveKind = iota // a tag name
	byDigest                    // a manifest digest, bare or name@digest
	byID                        // a full or short image ID (config digest)
)

type resolved struct {
	manifest v1.Hash
	kind     resolveKind
	name     string // normalized name when kind == byName
}

// Resolve finds the manifest digest of the recorded image s refers to. s is
// tried, in docker's order, as:
//
//  1. "sha256:<64 hex>": a manifest digest, else a full image ID;
//  2. "name@sha256:<hex>": the manifest digest (the repository is not
//     checked: hoist does not track repo digests);
//  3. a name ("busybox", "busybox:1", full names), normalized;
//  4. a hex prefix of an image ID (at least 1 character, optionally with
//     "sha256:"), as docker's short IDs.
//
// The image ID is the config digest, like docker's. Several matches give
// ErrAmbiguous, none ErrNotFound. Only images in the index are found.
func (s *Store) Resolve(ctx context.Context, str string) (v1.Hash, error) {
	idx, err := s.readIndex(ctx)
	if err != nil {
		return v1.Hash{}, err
	}
	r, err := s.resolveIn(idx, str)
	if err != nil {
		return v1.Hash{}, err
	}
	return r.manifest, nil
}

func (s *Store) resolveIn(idx *indexData, str string) (resolved, error) {
	if str == "" {
		return resolved{}, fmt.Errorf("resolving image: %w: empty reference", ErrInvalidName)
	}
	if hx, ok := strings.CutPrefix(str, "sha256:"); ok {
		if !isHex(hx) || len(hx) > 64 {
			return resolved{}, fmt.Errorf("resolving %q: %w", str, ErrInvalidDigest)
		}
		if len(hx) == 64 {
			if _, ok := idx.Images[str]; ok {
				return resolved{manifest: v1.Hash{Algorithm: "sha256", Hex: hx}, kind: byDigest}, nil
			}
		}
		return s.resolveID(idx, str, hx)
	}
	if strings.Contains(str, "@") {
		ref, err := ParseName(str)
		if err != nil {
			return resolved{}, fmt.Errorf("resolving %q: %w", str, err)
		}
		d, ok := ref.(name.Digest)
		if !ok {
			return resolved{}, fmt.Errorf("resolving %q: %w", str, ErrInvalidName)
		}
		h, err := v1.NewHash(d.DigestStr())
		if err != nil || validateDigest(h) != nil {
			return resolved{}, fmt.Errorf("resolving %q: %w", str, ErrInvalidDigest)
		}
		if _, ok := idx.Images[h.String()]; !ok {
			return resolved{}, fmt.Errorf("image %s: %w", str, ErrNotFound)
		}
		return resolved{manifest: h, kind: byDigest}, nil
	}
	ref, nameErr := ParseName(str)
	if nameErr == nil {
		n := NormalizedName(ref)
		for k, r := range idx.Images {
			if slices.Contains(r.Names, n) {
				h, _ := v1.NewHash(k)
				return resolved{manifest: h, kind: byName, name: n}, nil
			}
		}
	}
	if isHex(str) {
		return s.resolveID(idx, str, str)
	}
	if nameErr != nil {
		return resolved{}, fmt.Errorf("resolving %q: %w", str, nameErr)
	}
	return resolved{}, fmt.Errorf("image %s: %w", str, ErrNotFound)
}

// resolveID finds the image whose ID (config digest) starts with prefix
// hx; a full 64-hex hx may also be a manifest digest.
func (s *Store) resolveID(idx *indexData, str, hx string) (resolved, error) {
	var matches []v1.Hash
	for k := range idx.Images {
		h, _ := v1.NewHash(k)
		if len(hx) == 64 && h.Hex == hx {
			return resolved{manifest: h, kind: byDigest}, nil
		}
		id, err := s.configDigest(h)
		if err != nil {
			continue // a broken image cannot be matched by ID
		}
		if strings.HasPrefix(id.Hex, hx) {
			matches = append(matches, h)
		}
	}
	switch len(matches) {
	case 0:
		return resolved{}, fmt.Errorf("image %s: %w", str, ErrNotFound)
	case 1:
		return resolved{manifest: matches[0], kind: byID}, nil
	default:
		return resolved{}, fmt.Errorf("image ID %s matches %d images: %w", str, len(matches), ErrAmbiguous)
	}
}

// Remove deletes an image reference with docker rmi semantics and returns
// the lines docker would print ("Untagged: busybox:latest",
// "Deleted: sha256:<image ID>"):
//
//   - by name: the name is removed; if it was the image's last name the
//     image record is deleted too;
//   - by ID or digest: the image and all its names are removed, but if the
//     names span several repositories force is required (ErrConflict).
//
// With WithUsers, an image a container uses is not deleted (InUseError): without force when any
// container uses it, never when a running one does; untagging one of several names is allowed.
//
// Blobs are never deleted (garbage collection is a separate Prune). Atomic.
func (s *Store) Remove(ctx context.Context, ref string, force bool) ([]string, error) {
	if err := s.checkNotInUse(ctx, ref, force); err != nil {
		return nil, err
	}
	return s.remove(ctx, ref, force)
}

// remove is Remove without the in-use check.
func (s *Store) remove(ctx context.Context, ref string, force bool) ([]string, error) {
	var lines []string
	err := s.updateIndex(ctx, func(idx *indexData) error {
		lines = nil
		r, err := s.resolveIn(idx, ref)
		if err != nil {
			return err
		}
		key := r.manifest.String()
		rec := idx.Images[key]
		id, idErr := s.configDigest(r.manifest)
		if r.kind == byName {
			rec.Names = slices.DeleteFunc(rec.Names, func(x string) bool { return x == r.name })
			lines = append(lines, "Untagged: "+familiar(r.name))
			if len(rec.Names) > 0 {
				return nil
			}
		} else {
			if len(rec.Names) > 1 && !force && !singleRepo(rec.Names) {
				short := r.manifest.Hex[:12]
				if idErr == nil {
					short = id.Hex[:12]
				}
				return fmt.Errorf("unable to delete %s (must be forced) - image is referenced in multiple repositories: %w", short, ErrConflict)
			}
			for _, n := range rec.Names {
				lines = append(lines, "Untagged: "+familiar(n))
			}
		}
		delete(idx.Images, key)
		if idErr == nil {
			lines = append(lines, "Deleted: "+id.String())
		} else {
			lines = append(lines, "Deleted: "+key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("removing %s: %w", ref, err)
	}
	return lines, nil
}

// singleRepo reports whether all names are in the same repository.
func singleRepo(names []string) bool {
	repo := ""
	for i, n := range names {
		ref, err := ParseName(n)
		if err != nil {
			return false
		}
		r := ref.Context().Name()
		if i > 0 && r != repo {
			return false
		}
		repo = r
	}
	return true
}

// ImageSummary describes one recorded image for `hoist images`.
type ImageSummary struct {
	// Manifest is the manifest digest (the key of the index).
	Manifest v1.Hash
	// ID is the image ID: the config digest, as docker's.
	ID v1.Hash
	// Names are the normalized names; empty for a dangling image.
	Names []string
	// Created is the config's creation time (zero if absent).
	Created time.Time
	// Added is when the image was first recorded in this store.
	Added time.Time
	// Size is the config size plus the sum of the *compressed* layer sizes
	// from the manifest. Docker shows the unpacked size, which the store
	// does not know without decompressing every layer.
	Size int64
	// Labels are the config's labels.
	Labels map[string]string
}

// List returns every recorded image, newest (by Created) first. A recorded
// image whose manifest or config blob is missing or corrupt is an error.
func (s *Store) List(ctx context.Context) ([]ImageSummary, error) {
	idx, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ImageSummary, 0, len(idx.Images))
	for k, r := range idx.Images {
		h, _ := v1.NewHash(k)
		sum, err := s.summary(h, r)
		if err != nil {
			return nil, fmt.Errorf("listing images: %w", err)
		}
		out = append(out, sum)
	}
	slices.SortFunc(out, func(a, b ImageSummary) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return cmp.Compare(a.Manifest.Hex, b.Manifest.Hex)
	})
	return out, nil
}

func (s *Store) summary(h v1.Hash, r *imageRecord) (ImageSummary, error) {
	mh, im, err := s.defaultManifest(h)
	if err != nil {
		return ImageSummary{}, err
	}
	img, err := s.imageCore(mh)
	if err != nil {
		return ImageSummary{}, err
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return ImageSummary{}, fmt.Errorf("image %s: config: %w", h, err)
	}
	cfg, err := parseConfig(raw)
	if err != nil {
		return ImageSummary{}, fmt.Errorf("image %s: %w", h, err)
	}
	sum := ImageSummary{
		Manifest: h,
		ID:       img.manifest.Config.Digest,
		Names:    slices.Clone(r.Names),
		Created:  cfg.Created.Time,
		Added:    r.Added,
		Size:     manifestSize(img.manifest),
		Labels:   cfg.Config.Labels,
	}
	if im != nil {
		// An index: its ID is its digest, its size what all its platforms' blobs take.
		sum.ID = h
		if sum.Size, err = s.indexSize(im); err != nil {
			return ImageSummary{}, fmt.Errorf("image %s: %w", h, err)
		}
	}
	return sum, nil
}

// indexSize is the size of the blobs of every image of an index, each blob counted once.
func (s *Store) indexSize(im *v1.IndexManifest) (int64, error) {
	seen := map[v1.Hash]bool{}
	var n int64
	for _, d := range im.Manifests {
		img, err := s.imageCore(d.Digest)
		if err != nil {
			return 0, err
		}
		for _, b := range append([]v1.Descriptor{img.manifest.Config}, img.manifest.Layers...) {
			if !seen[b.Digest] {
				seen[b.Digest] = true
				n += b.Size
			}
		}
	}
	return n, nil
}

// manifestSize is the config size plus the compressed layer sizes.
func manifestSize(m *v1.Manifest) int64 {
	n := m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}
