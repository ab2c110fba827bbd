// Package push moves images between hoist's image store and registries (and later other sinks): pull,
// push, credentials, transport options. It is built on go-containerregistry's remote package.
package push

import (
	"context"
	"fmt"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Options configure registry access.
type Options struct {
	// Keychain resolves credentials; nil means authn.DefaultKeychain (~/.docker/config.json,
	// credential helpers, $DOCKER_CONFIG, $REGISTRY_AUTH_FILE).
	Keychain authn.Keychain
	// Platform selects an image from an index; zero means the host's (linux/GOARCH).
	Platform *v1.Platform
	// Jobs is the number of layers transferred in parallel (0 = ggcr's default).
	Jobs int
}

func (o Options) remoteOptions(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	p := o.Platform
	if p == nil {
		p = &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc), remote.WithPlatform(*p)}
	if o.Jobs > 0 {
		opts = append(opts, remote.WithJobs(o.Jobs))
	}
	return opts
}

// Fetch resolves ref on its registry and returns the image for the platform. Layers are fetched lazily
// when read; the caller verifies them as it stores them. Plain HTTP is used for loopback registries
// (localhost, 127.0.0.0/8), as docker does.
func Fetch(ctx context.Context, ref name.Reference, o Options) (v1.Image, error) {
	img, err := remote.Image(ref, o.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", ref.Name(), err)
	}
	return img, nil
}

// Write pushes img to ref and returns the pushed digest reference. Blobs the registry already has are
// skipped.
func Write(ctx context.Context, img v1.Image, ref name.Reference, o Options) (name.Digest, error) {
	if err := remote.Write(ref, img, o.remoteOptions(ctx)...); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return ref.Context().Digest(d.String()), nil
}
