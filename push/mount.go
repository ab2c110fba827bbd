package push

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/store"
)

// mountSources maps layer digests to another repository on dst's registry that should have them:
// first, for each of layers that is remote-backed, the repository recorded for it (a build imported
// it from a registry cache: pushing the image then moves no layer bytes at all, not even to this
// machine), then the repositories of the images in st named on that registry (a pulled base image keeps its
// registry name, so pushing an image built on it mounts the base layers instead of uploading them,
// as docker does with its distribution metadata), then the repositories hoist pushed the blobs to or
// pulled them from before (blobcache.go). A wrong guess costs one request: the registry
// answers a failed mount with an ordinary upload session.
func mountSources(ctx context.Context, st *store.Store, layers []v1.Descriptor, dst name.Repository) (map[v1.Hash]name.Repository, error) {
	imgs, err := st.List(ctx)
	if err != nil {
		return nil, err
	}
	out := map[v1.Hash]name.Repository{}
	for _, l := range layers {
		if _, src, err := st.Remote(l.Digest); err == nil {
			repo, err := name.NewRepository(src.Repository)
			if err == nil && repo.RegistryStr() == dst.RegistryStr() && repo.RepositoryStr() != dst.RepositoryStr() {
				out[l.Digest] = repo
			}
		}
	}
	for _, s := range imgs {
		for _, n := range s.Names {
			ref, err := name.ParseReference(n)
			if err != nil {
				continue
			}
			repo := ref.Context()
			if repo.RegistryStr() != dst.RegistryStr() || repo.RepositoryStr() == dst.RepositoryStr() {
				continue
			}
			img, err := st.Image(s.Manifest)
			if err != nil {
				continue
			}
			m, err := img.Manifest()
			if err != nil {
				continue
			}
			for _, l := range m.Layers {
				if _, ok := out[l.Digest]; !ok {
					out[l.Digest] = repo
				}
			}
		}
	}
	sourcesFromCache(st.Root(), dst, out)
	return out, nil
}
