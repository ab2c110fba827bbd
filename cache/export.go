package cache

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of an exported build cache. The cache travels as an ordinary OCI image manifest, so any
// registry or OCI layout stores it: its config blob is an Index of step results, its layers are the
// layer blobs those results name, plus the contents of exported RUN cache mounts.
const (
	IndexMediaType types.MediaType = "application/vnd.hoist.cache.index.v1+json"
	MountMediaType types.MediaType = "application/vnd.hoist.cache.mount.v1.tar+gzip"
	// MountIDAnnotation names the cache mount a MountMediaType layer holds.
	MountIDAnnotation = "dev.hoist.cache.mount.id"
)

// Index is the config blob of an exported cache.
type Index struct {
	Version int            `json:"version"`
	Records []IndexRecord  `json:"records"`
	Mounts  []MountArchive `json:"mounts,omitempty"`
}

// IndexRecord is one step result: the key and what it produced.
type IndexRecord struct {
	Key    Key    `json:"key"`
	Record Record `json:"record"`
}

// MountArchive is the gzip'd tar of one RUN --mount=type=cache directory.
type MountArchive struct {
	ID     string `json:"id"`
	Digest string `json:"digest"`
	DiffID string `json:"diffID"`
	Size   int64  `json:"size"`
}

// BlobOpener opens a blob by digest (the image store's OpenBlob).
type BlobOpener func(v1.Hash) (io.ReadCloser, error)

// NewImage returns the cache image of idx whose layers are read with open. Records are sorted by key
// and layers deduplicated, so the same cache content always gives the same manifest.
func NewImage(idx *Index, open BlobOpener) (v1.Image, error) {
	idx.Version = 1
	sort.Slice(idx.Records, func(i, j int) bool { return idx.Records[i].Key < idx.Records[j].Key })
	sort.Slice(idx.Mounts, func(i, j int) bool { return idx.Mounts[i].ID < idx.Mounts[j].ID })
	cfg, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(cfg))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: IndexMediaType, Digest: cfgHash, Size: cfgSize}}
	seen := map[v1.Hash]bool{}
	for _, r := range idx.Records {
		l := r.Record.Layer
		if l == nil {
			continue
		}
		d, err := v1.NewHash(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("cache record %s: %w", r.Key, err)
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.MediaType(l.MediaType), Digest: d, Size: l.Size})
	}
	for _, mt := range idx.Mounts {
		d, err := v1.NewHash(mt.Digest)
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: MountMediaType, Digest: d, Size: mt.Size,
			Annotations: map[string]string{MountIDAnnotation: mt.ID}})
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&cacheImage{cfg: cfg, manifest: raw, m: m, open: open})
}

// ReadIndex returns the Index in a cache image's config blob.
func ReadIndex(img v1.Image) (*Index, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading cache manifest: %w", err)
	}
	if m.Config.MediaType != IndexMediaType {
		return nil, fmt.Errorf("not a hoist build cache (config media type %q)", m.Config.MediaType)
	}
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading cache index: %w", err)
	}
	var idx Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("parsing cache index: %w", err)
	}
	if idx.Version != 1 {
		return nil, fmt.Errorf("unsupported cache index version %d", idx.Version)
	}
	return &idx, nil
}

// cacheImage is the minimal core go-containerregistry derives a v1.Image from.
type cacheImage struct {
	cfg, manifest []byte
	m             v1.Manifest
	open          BlobOpener
}

var _ partial.CompressedImageCore = (*cacheImage)(nil)

func (c *cacheImage) RawConfigFile() ([]byte, error)      { return c.cfg, nil }
func (c *cacheImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (c *cacheImage) RawManifest() ([]byte, error)        { return c.manifest, nil }

func (c *cacheImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, d := range c.m.Layers {
		if d.Digest == h {
			return &cacheBlob{desc: d, open: c.open}, nil
		}
	}
	return nil, fmt.Errorf("blob %s is not in the cache image", h)
}

type cacheBlob struct {
	desc v1.Descriptor
	open BlobOpener
}

func (b *cacheBlob) Digest() (v1.Hash, error)            { return b.desc.Digest, nil }
func (b *cacheBlob) Compressed() (io.ReadCloser, error)  { return b.open(b.desc.Digest) }
func (b *cacheBlob) Size() (int64, error)                { return b.desc.Size, nil }
func (b *cacheBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }
