package push

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/store"
)

// BlobSource describes repo as the source of remote-backed blobs (store.AddRemote). It is marked
// insecure when o uses repo's registry without TLS verification, so that fetching later may too.
func (o Options) BlobSource(repo name.Repository) store.RemoteSource {
	return store.RemoteSource{Repository: repo.Name(), Insecure: o.insecure(repo.RegistryStr())}
}

// BlobFetcher is the store's Fetcher of remote-backed blobs: it reads a blob from its repository with
// o's credentials, TLS settings and request retries, with plain HTTP and unverified TLS allowed for
// that registry when the source is marked insecure. ggcr checks the digest as the bytes arrive and the
// store checks digest and size before committing them. Every fetch is bound to ctx (the command's):
// the store's readers that start one have no context of their own.
func BlobFetcher(ctx context.Context, o Options) store.Fetcher {
	return func(src store.RemoteSource, d v1.Descriptor) (io.ReadCloser, error) {
		repo, err := name.NewRepository(src.Repository)
		if err != nil {
			return nil, fmt.Errorf("remote blob source %q: %w", src.Repository, err)
		}
		o := o
		if src.Insecure {
			o.Registries.Insecure = append(slices.Clone(o.Registries.Insecure), repo.RegistryStr())
		}
		ropts, err := o.remoteOptions(ctx, nil)
		if err != nil {
			return nil, err
		}
		l, err := remote.Layer(o.repository(repo).Digest(d.Digest.String()), ropts...)
		if err != nil {
			return nil, describe(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, describe(err)
		}
		return rc, nil
	}
}
