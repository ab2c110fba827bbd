package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// commitImage assembles the final image from a stage state with the manifest annotations ann, writes
// it to the store and, when stored, records it in the store's index under names (none: dangling).
// A multi-platform build commits each platform's image unstored: the index is recorded instead.
func (b *Builder) commitImage(ctx context.Context, st *imageState, opts Options, ann map[string]string, names []string, stored bool) (*Result, error) {
	cfg := cloneConfig(st.cfg)
	if len(opts.Labels) > 0 {
		if cfg.Config.Labels == nil {
			cfg.Config.Labels = map[string]string{}
		}
		keys := make([]string, 0, len(opts.Labels))
		for k := range opts.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cfg.Config.Labels[k] = opts.Labels[k]
		}
	}
	created := st.created
	if created.IsZero() {
		created = time.Now().UTC().Truncate(time.Second) // scratch with config-only steps
	}
	if opts.SourceDateEpoch != nil {
		created = opts.SourceDateEpoch.UTC()
	}
	cfg.Created = v1.Time{Time: created}
	cfg.History = st.history
	for i := range cfg.History {
		if cfg.History[i].Created.IsZero() || (opts.SourceDateEpoch != nil && cfg.History[i].Created.After(created)) {
			cfg.History[i].Created = v1.Time{Time: created}
		}
	}
	cfg.RootFS = v1.RootFS{Type: "layers"}
	for _, l := range st.layers {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, d)
	}
	var base v1.Image = empty.Image
	if st.docker {
		base = mutate.MediaType(base, types.DockerManifestSchema2)
		base = mutate.ConfigMediaType(base, types.DockerConfigJSON)
	} else {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	img, err := mutate.AppendLayers(base, st.layers...)
	if err != nil {
		return nil, err
	}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return nil, err
	}
	if len(ann) > 0 {
		img = mutate.Annotations(img, ann).(v1.Image)
	}
	h, err := b.store.WriteImage(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("writing image: %w", err)
	}
	var refs []string
	for _, t := range names {
		r, err := store.ParseName(t)
		if err != nil {
			return nil, fmt.Errorf("invalid tag %q: %w", t, err)
		}
		refs = append(refs, r.Name())
	}
	if stored {
		if err := b.store.AddImage(ctx, h, refs...); err != nil {
			return nil, err
		}
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	return &Result{ImageID: id, Manifest: h}, nil
}

// mountReadOnly makes the rootfs of layers readable at a temporary path (for COPY --from and RUN
// --mount from=) and returns a function that releases it.
func (b *Builder) mountReadOnly(ctx context.Context, sc *scratchDir, layers []v1.Layer) (string, func(), error) {
	lowers, err := b.snaps.Ensure(ctx, layers)
	if err != nil {
		return "", nil, err
	}
	dir, err := sc.stepDir()
	if err != nil {
		return "", nil, err
	}
	target := filepath.Join(dir, "ro")
	if err := os.Mkdir(target, 0o755); err != nil {
		return "", nil, err
	}
	overlay, err := b.useOverlay()
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if !overlay {
		if err := snapshot.Flatten(ctx, lowers, target); err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("copying the source rootfs: %w", err)
		}
		return target, func() { os.RemoveAll(dir) }, nil
	}
	if err := b.snaps.MountOverlay(lowers, "", "", target); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return target, func() {
		_ = snapshot.Unmount(target)
		os.RemoveAll(dir)
	}, nil
}
