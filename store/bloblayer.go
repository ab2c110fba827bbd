package store

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The one adapter from a stored blob to a go-containerregistry layer. The layers of stored images
// (Image), the layers a build commits (builder) and a committed container's layer (run/container)
// are all storeBlobs, so every stored layer is read, verified and decompressed the same way.

// Layer returns the stored blob desc as a v1.Layer whose diff ID is diffID (the caller knows it: it
// compressed the layer, or its cache record says). Digest, Size and MediaType are desc's; Compressed
// reads the blob, verified against its digest at EOF (ErrCorrupt); Uncompressed decompresses it as
// the bytes say (gzip, estargz being gzip; zstd; or none), as ggcr, containerd and docker do,
// whatever the media type claims. The blob need not be present yet: a remote-backed blob is fetched
// when it is read, and a missing one fails then with ErrNotFound.
func (s *Store) Layer(desc v1.Descriptor, diffID v1.Hash) (v1.Layer, error) {
	if err := validateDigest(desc.Digest); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	if err := validateDigest(diffID); err != nil {
		return nil, fmt.Errorf("layer %s: diff ID: %w", desc.Digest, err)
	}
	return &storeBlob{s: s, desc: desc, diffID: diffID}, nil
}

// storeBlob is a stored blob: a v1.Layer (also the partial.CompressedLayer of a stored image's
// config, which has no diff ID).
type storeBlob struct {
	s    *Store
	desc v1.Descriptor
	// The diff ID is diffID, or, when img is set, the config's for the layer at index in img: asking
	// for it costs no decompression. Whoever unpacks the layer verifies it against the content.
	diffID v1.Hash
	img    *storeImage
	index  int
}

var (
	_ v1.Layer                = (*storeBlob)(nil)
	_ partial.CompressedLayer = (*storeBlob)(nil)
	_ partial.WithDiffID      = (*storeBlob)(nil)
)

// DiffID implements v1.Layer.
func (b *storeBlob) DiffID() (v1.Hash, error) {
	if b.img == nil {
		if b.diffID == (v1.Hash{}) {
			return v1.Hash{}, fmt.Errorf("blob %s is not a layer", b.desc.Digest)
		}
		return b.diffID, nil
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

// Digest implements v1.Layer.
func (b *storeBlob) Digest() (v1.Hash, error) { return b.desc.Digest, nil }

// Size implements v1.Layer.
func (b *storeBlob) Size() (int64, error) { return b.desc.Size, nil }

// MediaType implements v1.Layer.
func (b *storeBlob) MediaType() (types.MediaType, error) { return b.desc.MediaType, nil }

// Descriptor returns the blob's descriptor (a manifest's annotations and URLs kept).
func (b *storeBlob) Descriptor() (*v1.Descriptor, error) {
	d := b.desc
	return &d, nil
}

// Compressed implements v1.Layer; the reader verifies the digest at EOF (ErrCorrupt). The caller
// closes it.
func (b *storeBlob) Compressed() (io.ReadCloser, error) { return b.s.OpenBlob(b.desc.Digest) }

// Uncompressed implements v1.Layer: the blob decompressed as its first bytes say. The caller closes it.
func (b *storeBlob) Uncompressed() (io.ReadCloser, error) {
	rc, err := b.Compressed()
	if err != nil {
		return nil, err
	}
	dr, err := decompress(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("layer %s: %w", b.desc.Digest, err)
	}
	return dr, nil
}

// decompress returns rc's content decompressed (gzip, zstd or none, by its magic number); closing
// the result closes rc. bzip2 and xz, which no image media type names, are ErrUnsupported.
func decompress(rc io.ReadCloser) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(rc, 1<<16)
	peek, _ := br.Peek(6)
	comp, err := sniffCompression(peek)
	if err != nil {
		return nil, err
	}
	switch comp {
	case compGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading gzip layer: %w", err)
		}
		return &readCloser{Reader: zr, close: func() error { zr.Close(); return rc.Close() }}, nil
	case compZstd:
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading zstd layer: %w", err)
		}
		return &readCloser{Reader: zr, close: func() error { zr.Close(); return rc.Close() }}, nil
	}
	return &readCloser{Reader: br, close: rc.Close}, nil
}

// sniffCompression tells a layer's compression from its first bytes.
func sniffCompression(peek []byte) (compression, error) {
	magic := string(peek)
	switch {
	case strings.HasPrefix(magic, magicGzip):
		return compGzip, nil
	case strings.HasPrefix(magic, magicZstd):
		return compZstd, nil
	case strings.HasPrefix(magic, magicBzip2), strings.HasPrefix(magic, magicXz):
		return compNone, fmt.Errorf("layer compression (bzip2/xz): %w", ErrUnsupported)
	}
	return compNone, nil
}

// readCloser is a reader with its own Close.
type readCloser struct {
	io.Reader
	close func() error
}

func (r *readCloser) Close() error { return r.close() }
