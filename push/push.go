// Package push moves images between hoist's image store and registries: pull (verified, parallel,
// with mirrors), push (parallel, existence checks, cross-repository mounts), credentials (docker's
// config files), transport (TLS per registry like docker's certs.d, plain HTTP only where allowed,
// retries), layer compression conversion (gzip, zstd, estargz) and progress output. It is built on
// go-containerregistry's remote package; ggcr types stay at this package's edges.
//
// Files by concern: options.go (Options), config.go (registry config: mirrors, insecure registries),
// transport.go (TLS and the plain-HTTP policy), auth.go (keychain, login, logout), pull.go, write.go
// (push), mount.go (cross-repository mount sources), convert.go (compression), progress.go,
// query.go (manifest inspect, catalog, tags), lazy.go (the store's fetcher of remote-backed blobs).
package push

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Fetch resolves ref (through the configured mirrors first, in order, then ref's own registry) and
// returns the image for o's platform and the reference it was read from: ref or a mirror's rewrite of
// it. Layers are fetched lazily when read and verified by ggcr against their digests; callers that
// store the image should prefer Pull, which fetches layers in parallel, retries dropped transfers and
// stores nothing unless everything verified.
func Fetch(ctx context.Context, ref name.Reference, o Options) (v1.Image, name.Reference, error) {
	return o.resolveImage(ctx, ref)
}

// Write pushes img to ref and returns the pushed digest reference. Blobs the registry already has are
// skipped; a manifest the registry already has under ref is not sent again.
func Write(ctx context.Context, img v1.Image, ref name.Reference, o Options) (name.Digest, error) {
	ref = o.reference(ref)
	ropts, err := o.remoteOptions(ctx, nil)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(ref, img, ropts...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, describe(err))
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(d.String()), nil
}
