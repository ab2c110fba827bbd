package push

import (
	"context"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/store"
)

// Pushed describes a finished push.
type Pushed struct {
	// Digest is the pushed manifest's reference by digest.
	Digest name.Digest
	// Size is the manifest's size in bytes; Layers the number of layers.
	Size   int64
	Layers int
}

// Push sends the stored image with manifest digest h to dst. Layers go in parallel (o.Jobs); a layer
// the repository already has is skipped after a HEAD; a layer known (remote-backed, or from the names
// in st) to come from another repository on the same registry is mounted from there instead of
// uploaded (a remote-backed layer that cannot be mounted is fetched into st first); the
// manifest is not sent again when dst already points at it. Blobs stream from the store (verified
// as they are read) with no temporary copies. Failed uploads restart from the beginning on transient
// errors (o's backoff). The image's layers are sent as stored: no recompression.
//
// An index (a multi-platform image) is pushed as pushIndex says: its images first, the index last.
func Push(ctx context.Context, st *store.Store, h v1.Hash, dst name.Reference, o Options) (Pushed, error) {
	if im, raw, err := st.IndexManifest(h); err == nil {
		return pushIndex(ctx, st, h, im, raw, dst, o)
	}
	img, err := st.Image(h)
	if err != nil {
		return Pushed{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return Pushed{}, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return Pushed{}, err
	}
	sources, err := mountSources(ctx, st, m.Layers, dst.Context())
	if err != nil {
		return Pushed{}, err
	}
	pimg := &pushImage{Image: img, sources: sources, o: o}
	if _, err := Write(ctx, pimg, dst, o); err != nil {
		return Pushed{}, err
	}
	recordBlobs(st.Root(), dst.Context(), layerDigests(m))
	return Pushed{Digest: dst.Context().Digest(h.String()), Size: int64(len(raw)), Layers: len(m.Layers)}, nil
}

// pushImage is a stored image whose layers report progress and carry a mount source when known.
type pushImage struct {
	v1.Image
	sources map[v1.Hash]name.Repository
	o       Options
}

// Layers implements v1.Image.
func (p *pushImage) Layers() ([]v1.Layer, error) {
	ls, err := p.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i], err = p.wrap(l)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LayerByDigest implements v1.Image.
func (p *pushImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := p.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return p.wrap(l)
}

func (p *pushImage) wrap(l v1.Layer) (v1.Layer, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	var out v1.Layer = &progressLayer{Layer: l, o: p.o}
	if src, ok := p.sources[d]; ok {
		out = &remote.MountableLayer{Layer: out, Reference: src.Tag("latest")}
	}
	return out, nil
}

// progressLayer reports the bytes read from Compressed to o.Progress.
type progressLayer struct {
	v1.Layer
	o Options
}

// Descriptor keeps the manifest's descriptor (annotations, media type).
func (l *progressLayer) Descriptor() (*v1.Descriptor, error) {
	return partial.Descriptor(l.Layer)
}

// Compressed implements v1.Layer.
func (l *progressLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil || l.o.Progress == nil {
		return rc, err
	}
	d, _ := l.Digest()
	size, _ := l.Size()
	b := l.o.Progress.Layer(shortDigest(d), "Pushing", size)
	return &barReader{rc: rc, bar: b}, nil
}

type barReader struct {
	rc  io.ReadCloser
	bar Bar
	n   int64
}

func (r *barReader) Read(p []byte) (int, error) {
	n, err := r.rc.Read(p)
	r.bar.Write(p[:n])
	if err == io.EOF {
		r.bar.Done("Pushed")
	}
	return n, err
}

func (r *barReader) Close() error { return r.rc.Close() }

func layerDigests(m *v1.Manifest) []v1.Hash {
	out := make([]v1.Hash, 0, len(m.Layers))
	for _, l := range m.Layers {
		out = append(out, l.Digest)
	}
	return out
}
