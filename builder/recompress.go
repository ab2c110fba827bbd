package builder

import (
	"context"
	"fmt"

	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

// recompress converts a built image's layers to c (Options.Compression) and moves tags to the
// converted image, which it returns as the build's result.
func (b *Builder) recompress(ctx context.Context, res *Result, c push.Compression, tags []string, stored bool) (*Result, error) {
	h, err := push.Convert(ctx, b.store, res.Manifest, c)
	if err != nil {
		return nil, fmt.Errorf("--compression %s: %w", c, err)
	}
	var names []string
	for _, t := range tags {
		ref, err := store.ParseName(t)
		if err != nil {
			return nil, err
		}
		names = append(names, store.NormalizedName(ref))
	}
	if stored {
		if err := b.store.AddImage(ctx, h, names...); err != nil {
			return nil, err
		}
	}
	img, err := b.store.Image(h)
	if err != nil {
		return nil, err
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	return &Result{ImageID: id, Manifest: h, ContextFilesRead: res.ContextFilesRead}, nil
}
