package store

import (
	"context"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PruneImages removes the dangling images (no name), or with all every image, except the manifests
// in keep and those the store's Users use (images containers were created from), as
// `docker image prune [-a]` does. It returns
// docker's report lines ("untagged: ...", "deleted: ...") and the bytes the removed images
// accounted for (their config and compressed layers; shared blobs are counted once per image).
// Blobs go at the next garbage collection, as with Remove.
func (s *Store) PruneImages(ctx context.Context, all bool, keep []v1.Hash) ([]string, int64, error) {
	list, err := s.List(ctx)
	if err != nil {
		return nil, 0, err
	}
	used, err := s.InUse(ctx)
	if err != nil {
		return nil, 0, err
	}
	keep = append(slices.Clip(keep), used...)
	var lines []string
	var freed int64
	for _, im := range list {
		if slices.Contains(keep, im.Manifest) || !all && len(im.Names) > 0 {
			continue
		}
		out, err := s.remove(ctx, im.Manifest.String(), true)
		for _, l := range out {
			lines = append(lines, lowerFirst(l))
		}
		if err != nil {
			return lines, freed, err
		}
		freed += im.Size
	}
	return lines, freed, nil
}

// lowerFirst turns rmi's "Untagged: x" into prune's "untagged: x".
func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+'a'-'A') + s[1:]
}
