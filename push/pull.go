package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"

	"github.com/hoistbuild/hoist/internal/ctxio"
	"github.com/hoistbuild/hoist/store"
)

// Pulled describes a finished pull.
type Pulled struct {
	// Manifest is the stored image manifest's digest.
	Manifest v1.Hash
	// Source is where the manifest came from: ref itself or a mirror's rewrite of it.
	Source name.Reference
	// Layers is the number of layers; Fetched how many of them were not in the store yet.
	Layers, Fetched int
}

// Pull fetches ref (through mirrors, with fallback) into st: the image for o's platform when ref
// is an index, its missing layers in parallel (o.Jobs), each retried from the start after a dropped
// connection, a 5xx or a 429, then config and manifest. Every blob is verified against its digest
// and size before it enters the store, and nothing is committed until every layer verified: a failed
// or cancelled pull leaves the store as it was (temp files are removed). Names: a tag reference is
// recorded as the image's name (unless o.NoName).
func Pull(ctx context.Context, st *store.Store, ref name.Reference, o Options) (Pulled, error) {
	img, src, err := o.resolveImage(ctx, ref)
	if err != nil {
		return Pulled{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Pulled{}, fmt.Errorf("pulling %s: %w", ref.Name(), describe(err))
	}
	res := Pulled{Source: src, Layers: len(m.Layers)}
	var missing []v1.Descriptor
	for _, d := range m.Layers {
		if !st.HasBlob(d.Digest) && !containsDigest(missing, d.Digest) {
			missing = append(missing, d)
		}
	}
	res.Fetched = len(missing)
	if err := fetchLayers(ctx, st, img, missing, o); err != nil {
		return Pulled{}, fmt.Errorf("pulling %s: %w", ref.Name(), err)
	}
	h, err := st.WriteImage(ctx, img)
	if err != nil {
		return Pulled{}, fmt.Errorf("pulling %s: storing: %w", ref.Name(), describe(err))
	}
	var names []string
	if _, ok := ref.(name.Tag); ok && !o.NoName {
		names = append(names, store.NormalizedName(ref))
	}
	if err := st.AddImage(ctx, h, names...); err != nil {
		return Pulled{}, err
	}
	if src.Context().RegistryStr() == ref.Context().RegistryStr() {
		recordBlobs(st.Root(), ref.Context(), layerDigests(m))
	}
	res.Manifest = h
	return res, nil
}

func containsDigest(ds []v1.Descriptor, h v1.Hash) bool {
	for _, d := range ds {
		if d.Digest == h {
			return true
		}
	}
	return false
}

// resolveImage finds ref's manifest on the first source that has it (mirrors in order, then the
// registry) and returns the image for o's platform and the reference it came from.
func (o Options) resolveImage(ctx context.Context, ref name.Reference) (v1.Image, name.Reference, error) {
	ropts, err := o.remoteOptions(ctx, nil)
	if err != nil {
		return nil, nil, err
	}
	var tried []string
	for _, m := range o.Registries.mirrorsFor(ref.Context().RegistryStr()) {
		mref, err := mirrorReference(ref, m)
		if err != nil {
			continue
		}
		img, err := imageFor(mref, o, ropts)
		if err == nil {
			return img, mref, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		tried = append(tried, m.host)
	}
	img, err := imageFor(o.reference(ref), o, ropts)
	if err != nil {
		msg := ""
		if len(tried) > 0 {
			msg = " (mirrors tried first: " + strings.Join(tried, ", ") + ")"
		}
		return nil, nil, fmt.Errorf("pulling %s: %w%s", ref.Name(), describe(err), msg)
	}
	return img, ref, nil
}

func imageFor(ref name.Reference, o Options, ropts []remote.Option) (v1.Image, error) {
	desc, err := remote.Get(ref, ropts...)
	if err != nil {
		return nil, err
	}
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		return selectPlatform(idx, o.platform())
	}
	return desc.Image()
}

// selectPlatform picks the image for p from idx with containerd's rules for the fields given: OS and
// architecture must match, a variant given must match (amd64 and arm64 without one match their
// default), attestation manifests ("unknown/unknown") are skipped.
func selectPlatform(idx v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var avail []string
	for _, d := range im.Manifests {
		if d.Platform == nil || !d.MediaType.IsImage() {
			continue
		}
		avail = append(avail, d.Platform.String())
		if d.Platform.OS != p.OS || d.Platform.Architecture != p.Architecture {
			continue
		}
		if p.Variant != "" && d.Platform.Variant != p.Variant && !(d.Platform.Variant == "" && defaultVariant(p)) {
			continue
		}
		return idx.Image(d.Digest)
	}
	return nil, fmt.Errorf("no image for platform %s in the index (it has %s): %w", p.String(), strings.Join(avail, ", "), ErrNotFound)
}

func defaultVariant(p v1.Platform) bool {
	return (p.Architecture == "arm64" && p.Variant == "v8") || (p.Architecture == "amd64" && p.Variant == "v1")
}

// fetchLayers downloads descs from img into uncommitted store blobs, jobs at a time, and commits
// them only when all verified. On error every temp blob is removed.
func fetchLayers(ctx context.Context, st *store.Store, img v1.Image, descs []v1.Descriptor, o Options) error {
	writers := make([]*store.BlobWriter, len(descs))
	defer func() {
		for _, w := range writers {
			if w != nil {
				w.Abort()
			}
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.jobs())
	for i, d := range descs {
		g.Go(func() error {
			w, err := fetchBlob(gctx, st, img, d, o)
			writers[i] = w
			return err
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	for i, w := range writers {
		if w.Size() != descs[i].Size {
			return fmt.Errorf("layer %s: got %d bytes, the manifest says %d: %w", descs[i].Digest, w.Size(), descs[i].Size, store.ErrCorrupt)
		}
	}
	for i, w := range writers {
		if _, _, err := w.Commit(descs[i].Digest); err != nil {
			return fmt.Errorf("layer %s: %w", descs[i].Digest, err)
		}
	}
	return nil
}

// fetchBlob downloads one layer into a new uncommitted blob writer, restarting from the beginning
// after transient failures (o's backoff). The returned writer holds the complete, digest-verified
// content (ggcr verifies digest and size while reading).
func fetchBlob(ctx context.Context, st *store.Store, img v1.Image, d v1.Descriptor, o Options) (*store.BlobWriter, error) {
	var bar Bar = nopBar{}
	if o.Progress != nil {
		bar = o.Progress.Layer(shortDigest(d.Digest), "Downloading", d.Size)
	}
	b := o.backoff()
	delay := b.Duration
	for attempt := 1; ; attempt++ {
		w, err := fetchOnce(ctx, st, img, d, bar)
		if err == nil {
			bar.Done("Download complete")
			return w, nil
		}
		if !transient(ctx, err) || attempt >= b.Steps {
			bar.Done("Failed")
			return nil, fmt.Errorf("layer %s: %w", d.Digest, describe(err))
		}
		bar.Restart(err)
		select {
		case <-ctx.Done():
			bar.Done("Cancelled")
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = time.Duration(float64(delay) * b.Factor)
	}
}

func fetchOnce(ctx context.Context, st *store.Store, img v1.Image, d v1.Descriptor, bar Bar) (*store.BlobWriter, error) {
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	w, err := st.NewBlobWriter()
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(w, io.TeeReader(ctxio.Reader(ctx, rc), bar)); err != nil {
		w.Abort()
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return w, nil
}

func shortDigest(h v1.Hash) string {
	if len(h.Hex) < 12 {
		return h.Hex
	}
	return h.Hex[:12]
}
