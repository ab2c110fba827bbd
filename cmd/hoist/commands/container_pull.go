package commands

import (
	"context"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/run/container"
	"github.com/hoistbuild/hoist/store"
)

// runPuller pulls for run/create --pull with pull's default registry settings, reporting on
// stderr as docker run does (stdout is the container's); from an index, the image for --platform.
func runPuller(g *globals) container.Puller {
	return func(ctx context.Context, ref string, platform *v1.Platform) error {
		r, err := store.ParseName(ref)
		if err != nil {
			return err
		}
		eg := *g
		eg.stdout = g.stderr
		p := pullCmd{rf: defaultRegistryFlags()}
		o, done, err := p.rf.options(&eg)
		if err != nil {
			return err
		}
		defer done()
		o.Platform = platform
		st, release, err := g.openStoreWriting(ctx)
		if err != nil {
			return err
		}
		defer release()
		return p.pullOne(ctx, &eg, st, r, o)
	}
}
