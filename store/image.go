package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	img, err := partial.CompressedToImage(core)
	if err != nil {
		return nil, err
	}
	return &image{Image: img, core: core}, nil
}

// image is a stored image whose layers are the store's own (storeBlob, see Layer) rather than ggcr's
// generic wrapper: every stored layer is decompressed the same way, whoever reads it.
type image struct {
	v1.Image
	core *storeImage
}

var _ v1.Image = (*image)(nil)

// Layers implements v1.Image: the manifest's layers, base first.
func (i *image) Layers() ([]v1.Layer, error) {
	ls := make([]v1.Layer, len(i.core.manifest.Layers))
	for n, d := range i.core.manifest.Layers {
		ls[n] = i.core.layer(n, d)
	}
	return ls, nil
}

// LayerByDigest implements v1.Image. The config digest is accepted too (as ggcr's layout does).
func (i *image) LayerByDigest(h v1.Hash) (v1.Layer, error) { return i.core.blob(h) }

// LayerByDiffID implements v1.Image.
func (i *image) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	ids, err := i.core.layerDiffIDs()
	if err != nil {
		return nil, err
	}
	for n, id := range ids {
		if id == h && n < len(i.core.manifest.Layers) {
			return i.core.layer(n, i.core.manifest.Layers[n]), nil
		}
	}
	return nil, fmt.Errorf("diff ID %s not in image: %w", h, ErrNotFound)
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
func (i *storeImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) { return i.blob(h) }

// blob is the layer (or the config) with digest h.
func (i *storeImage) blob(h v1.Hash) (*storeBlob, error) {
	if h == i.manifest.Config.Digest {
		return &storeBlob{s: i.s, desc: i.manifest.Config}, nil
	}
	for n, d := range i.manifest.Layers {
		if d.Digest == h {
			return i.layer(n, d), nil
		}
	}
	return nil, fmt.Errorf("layer %s not in manifest: %w", h, ErrNotFound)
}

// layer is the manifest's layer n, described by d; its diff ID comes from the config.
func (i *storeImage) layer(n int, d v1.Descriptor) *storeBlob {
	return &storeBlob{s: i.s, desc: d, img: i, index: n}
}
