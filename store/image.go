package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// isImageManifest reports whether mt is a single-image manifest type this
// store keeps (OCI image manifest or Docker schema 2).
func isImageManifest(mt types.MediaType) bool {
	return mt == types.OCIManifestSchema1 || mt == types.DockerManifestSchema2
}

// WriteImage stores img's layers (their compressed bytes, verified against
// the manifest digests; blobs already present or remote-backed are
// skipped), then its config, then its manifest, so that a crash never
// leaves a stored manifest pointing at missing blobs. It does not record the image in the index
// (see AddImage). It returns the manifest digest. Idempotent.
func (s *Store) WriteImage(ctx context.Context, img v1.Image) (v1.Hash, error) {
	mt, err := img.MediaType()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing image: %w", err)
	}
	if !isImageManifest(mt) {
		return v1.Hash{}, fmt.Errorf("writing image: manifest media type %q: %w", mt, ErrUnsupported)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing image: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing image: %w", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing image %s: parsing manifest: %w", digest, err)
	}
	for i, desc := range m.Layers {
		if err := s.WriteLayer(ctx, img, desc); err != nil {
			return v1.Hash{}, fmt.Errorf("writing image %s: layer %d: %w", digest, i, err)
		}
	}
	if !s.HasBlob(m.Config.Digest) {
		cfg, err := img.RawConfigFile()
		if err != nil {
			return v1.Hash{}, fmt.Errorf("writing image %s: config: %w", digest, err)
		}
		if _, _, err := s.writeBlob(ctx, bytes.NewReader(cfg), m.Config.Digest, m.Config.Size); err != nil {
			return v1.Hash{}, fmt.Errorf("writing image %s: config: %w", digest, err)
		}
	}
	if s.HasBlob(digest) {
		return digest, nil // the same image again (a fully cached rebuild)
	}
	if _, _, err := s.writeBlob(ctx, bytes.NewReader(raw), digest, int64(len(raw))); err != nil {
		return v1.Hash{}, fmt.Errorf("writing image %s: manifest: %w", digest, err)
	}
	return digest, nil
}

// WriteLayer copies the compressed blob desc of img into the store, verified against desc's digest and
// size; a blob already present or remote-backed is not read. Atomic and idempotent like WriteBlob.
func (s *Store) WriteLayer(ctx context.Context, img v1.Image, desc v1.Descriptor) error {
	if err := validateDigest(desc.Digest); err != nil {
		return err
	}
	if s.Available(desc.Digest) {
		return nil
	}
	if !desc.MediaType.IsDistributable() {
		return fmt.Errorf("non-distributable layer %s: %w", desc.Digest, ErrUnsupported)
	}
	l, err := img.LayerByDigest(desc.Digest)
	if err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	_, _, err = s.writeBlob(ctx, rc, desc.Digest, desc.Size)
	return err
}

// Image returns a lazy v1.Image backed by the stored blobs of the manifest
// with digest h. The manifest is read (and verified) now; config and layers
// are read, verified, on demand. A missing manifest blob gives an error
// wrapping ErrNotFound. The image does not need to be recorded in the index.
func (s *Store) Image(h v1.Hash) (v1.Image, error) {
	core, err := s.imageCore(h)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(core)
}

func (s *Store) imageCore(h v1.Hash) (*storeImage, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	m, mt, err := parseImageManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	return &storeImage{s: s, raw: raw, manifest: m, mediaType: mt}, nil
}

// parseImageManifest parses raw as an image manifest and determines its
// media type (inferring it from the config type when the field is absent).
func parseImageManifest(raw []byte) (*v1.Manifest, types.MediaType, error) {
	var probe struct {
		MediaType types.MediaType  `json:"mediaType"`
		Manifests *json.RawMessage `json:"manifests"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, "", fmt.Errorf("parsing manifest: %w", err)
	}
	if probe.Manifests != nil {
		return nil, "", fmt.Errorf("manifest is an index: %w", ErrUnsupported)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("parsing manifest: %w", err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = types.OCIManifestSchema1
		if m.Config.MediaType == types.DockerConfigJSON {
			mt = types.DockerManifestSchema2
		}
	}
	if !isImageManifest(mt) {
		return nil, "", fmt.Errorf("manifest media type %q: %w", mt, ErrUnsupported)
	}
	if err := validateDigest(m.Config.Digest); err != nil {
		return nil, "", fmt.Errorf("manifest config: %w", err)
	}
	for _, l := range m.Layers {
		if err := validateDigest(l.Digest); err != nil {
			return nil, "", fmt.Errorf("manifest layer: %w", err)
		}
	}
	return m, mt, nil
}

// storeImage is the partial.CompressedImageCore of a stored image.
type storeImage struct {
	s         *Store
	raw       []byte
	manifest  *v1.Manifest
	mediaType types.MediaType

	cfgOnce sync.Once
	cfg     []byte
	cfgErr  error

	diffOnce sync.Once
	diffIDs  []v1.Hash
	diffErr  error
}

// layerDiffIDs parses the config's rootfs diff IDs once.
func (i *storeImage) layerDiffIDs() ([]v1.Hash, error) {
	i.diffOnce.Do(func() {
		raw, err := i.RawConfigFile()
		if err != nil {
			i.diffErr = err
			return
		}
		cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
		if err != nil {
			i.diffErr = fmt.Errorf("parsing config: %w", err)
			return
		}
		i.diffIDs = cfg.RootFS.DiffIDs
	})
	return i.diffIDs, i.diffErr
}

var _ partial.CompressedImageCore = (*storeImage)(nil)

// RawConfigFile implements partial.CompressedImageCore.
func (i *storeImage) RawConfigFile() ([]byte, error) {
	i.cfgOnce.Do(func() {
		i.cfg, i.cfgErr = i.s.readBlob(i.manifest.Config.Digest)
	})
	return i.cfg, i.cfgErr
}

// MediaType implements partial.CompressedImageCore.
func (i *storeImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }

// RawManifest implements partial.CompressedImageCore.
func (i *storeImage) RawManifest() ([]byte, error) { return i.raw, nil }

// LayerByDigest implements partial.CompressedImageCore. The config digest
// is accepted too (as ggcr's layout does).
func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &storeBlob{s: i.s, desc: i.manifest.Config}, nil
	}
	for n, d := range i.manifest.Layers {
		if d.Digest == h {
			return &storeBlob{s: i.s, desc: d, img: i, index: n}, nil
		}
	}
	return nil, fmt.Errorf("layer %s not in manifest: %w", h, ErrNotFound)
}

// storeBlob is a partial.CompressedLayer reading a verified stored blob.
type storeBlob struct {
	s    *Store
	desc v1.Descriptor
	// img and index locate a layer in its image, so DiffID comes from the config instead of
	// decompressing the whole layer (img is nil for the config blob).
	img   *storeImage
	index int
}

// DiffID returns the layer's diff ID from the image config (ggcr's partial.WithDiffID), so that asking
// for it costs no decompression. Whoever unpacks the layer verifies it against the content.
func (b *storeBlob) DiffID() (v1.Hash, error) {
	if b.img == nil {
		return v1.Hash{}, fmt.Errorf("blob %s is not a layer", b.desc.Digest)
	}
	ids, err := b.img.layerDiffIDs()
	if err != nil {
		return v1.Hash{}, err
	}
	if b.index >= len(ids) {
		return v1.Hash{}, fmt.Errorf("config has %d diff IDs, layer %d has none: %w", len(ids), b.index, ErrCorrupt)
	}
	return ids[b.index], nil
}

var _ partial.CompressedLayer = (*storeBlob)(nil)

// Digest implements partial.CompressedLayer.
func (b *storeBlob) Digest() (v1.Hash, error) { return b.desc.Digest, nil }

// Compressed implements partial.CompressedLayer; the reader verifies the
// digest at EOF (ErrCorrupt). The caller closes it.
func (b *storeBlob) Compressed() (io.ReadCloser, error) { return b.s.OpenBlob(b.desc.Digest) }

// Size implements partial.CompressedLayer.
func (b *storeBlob) Size() (int64, error) { return b.desc.Size, nil }

// MediaType implements partial.CompressedLayer.
func (b *storeBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

// Descriptor returns the manifest's descriptor (annotations, URLs kept).
func (b *storeBlob) Descriptor() (*v1.Descriptor, error) {
	d := b.desc
	return &d, nil
}
