package push

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Manifest returns ref's manifest (or index) as the registry serves it, with its media type.
func Manifest(ctx context.Context, ref name.Reference, o Options) ([]byte, types.MediaType, error) {
	ropts, err := o.remoteOptions(ctx, nil)
	if err != nil {
		return nil, "", err
	}
	desc, err := remote.Get(o.reference(ref), ropts...)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", ref.Name(), describe(err))
	}
	return desc.Manifest, desc.MediaType, nil
}

// Tags lists repo's tags, sorted.
func Tags(ctx context.Context, repo name.Repository, o Options) ([]string, error) {
	ropts, err := o.remoteOptions(ctx, nil)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(o.repository(repo), ropts...)
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", repo.Name(), describe(err))
	}
	sort.Strings(tags)
	return tags, nil
}

// TagRefs is Tags as references in repo, sorted: what `pull --all-tags` pulls.
func TagRefs(ctx context.Context, repo name.Repository, o Options) ([]name.Reference, error) {
	tags, err := Tags(ctx, repo, o)
	if err != nil {
		return nil, err
	}
	refs := make([]name.Reference, 0, len(tags))
	for _, t := range tags {
		refs = append(refs, repo.Tag(t))
	}
	return refs, nil
}

// Search lists the repositories of registry reg (its _catalog) whose name contains term, sorted.
// Registries without a catalog API (Docker Hub's search is a different service) give an error.
func Search(ctx context.Context, reg, term string, o Options) ([]string, error) {
	r, err := name.NewRegistry(canonicalRegistry(reg))
	if err != nil {
		return nil, fmt.Errorf("invalid registry %q: %w", reg, err)
	}
	if o.plainHTTPAllowed(r.RegistryStr()) {
		r, _ = name.NewRegistry(r.RegistryStr(), name.Insecure)
	}
	ropts, err := o.remoteOptions(ctx, nil)
	if err != nil {
		return nil, err
	}
	repos, err := remote.Catalog(ctx, r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("searching %s: %w", reg, describe(err))
	}
	var out []string
	for _, rp := range repos {
		if strings.Contains(rp, term) {
			out = append(out, rp)
		}
	}
	sort.Strings(out)
	return out, nil
}

// RemoteImage returns the image ref names in its own registry (no mirrors), read lazily: its
// manifest now, each blob when read (ggcr checks every blob's digest as it arrives). A missing
// tag or manifest is an error wrapping ErrNotFound. For an index, o's platform chooses the image.
func RemoteImage(ctx context.Context, ref name.Reference, o Options) (v1.Image, error) {
	ropts, err := o.remoteOptions(ctx, nil)
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(o.reference(ref), ropts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.Name(), describe(err))
	}
	return img, nil
}
