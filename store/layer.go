package store

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/hoistbuild/hoist/internal/ctxio"
)

// layerInfo describes a layer blob written by ingestLayer.
type layerInfo struct {
	digest    v1.Hash
	size      int64 // compressed (blob) size
	diffID    v1.Hash
	mediaType types.MediaType
}

type compression int

const (
	compNone compression = iota
	compGzip
	compZstd
)

// Compression magic numbers.
const (
	magicGzip  = "\x1f\x8b"
	magicZstd  = "\x28\xb5\x2f\xfd"
	magicBzip2 = "BZh"
	magicXz    = "\xfd7zXZ\x00"
)

// ingestLayer stores a layer from a tar stream that may be gzip or zstd
// compressed (kept as is) or uncompressed (gzip-compressed on the way in).
// The uncompressed content must be a tar archive. It hashes the
// uncompressed stream for the diff ID in the same pass. The blob is only
// committed when the whole stream was read without error and, if wantDiff
// is not the zero Hash, its diff ID equals wantDiff (else ErrCorrupt).
func (s *Store) ingestLayer(ctx context.Context, r io.Reader, wantDiff v1.Hash) (layerInfo, error) {
	br := bufio.NewReaderSize(ctxio.Reader(ctx, r), 1<<16)
	peek, _ := br.Peek(6)
	comp, err := sniffCompression(peek)
	if err != nil {
		return layerInfo{}, err
	}
	bw, err := s.NewBlobWriter()
	if err != nil {
		return layerInfo{}, err
	}
	defer bw.Abort()

	diff := sha256.New()
	var uw io.Writer = diff
	info := layerInfo{mediaType: types.DockerLayer}
	switch comp {
	case compGzip, compZstd:
		tee := io.TeeReader(br, bw)
		var plain io.Reader
		if comp == compGzip {
			gz, err := gzip.NewReader(tee)
			if err != nil {
				return layerInfo{}, fmt.Errorf("reading gzip layer: %w", err)
			}
			defer gz.Close()
			plain = gz
		} else {
			dec, err := zstd.NewReader(tee, zstd.WithDecoderConcurrency(1))
			if err != nil {
				return layerInfo{}, fmt.Errorf("reading zstd layer: %w", err)
			}
			defer dec.Close()
			plain = dec
			info.mediaType = types.OCILayerZStd
		}
		if err := copyTar(uw, plain); err != nil {
			return layerInfo{}, err
		}
		// Any bytes after the compressed stream still belong to the blob.
		if _, err := io.Copy(io.Discard, tee); err != nil {
			return layerInfo{}, fmt.Errorf("reading layer: %w", err)
		}
	default:
		gz, err := gzip.NewWriterLevel(bw, gzip.DefaultCompression)
		if err != nil {
			return layerInfo{}, err
		}
		if err := copyTar(io.MultiWriter(uw, gz), br); err != nil {
			return layerInfo{}, err
		}
		if err := gz.Close(); err != nil {
			return layerInfo{}, fmt.Errorf("compressing layer: %w", err)
		}
	}
	info.diffID = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	if !isZeroHash(wantDiff) && info.diffID != wantDiff {
		return layerInfo{}, fmt.Errorf("layer diff ID %s, expected %s: %w", info.diffID, wantDiff, ErrCorrupt)
	}
	info.digest, info.size, err = bw.Commit(v1.Hash{})
	if err != nil {
		return layerInfo{}, err
	}
	return info, nil
}

// copyTar copies the uncompressed layer stream r to w, checking on the way
// that it is a well-formed tar archive. Bytes after the end-of-archive
// marker are copied too, so w sees exactly r.
func copyTar(w io.Writer, r io.Reader) error {
	tee := io.TeeReader(r, w)
	tr := tar.NewReader(tee)
	for {
		_, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("layer is not a valid tar archive: %w", err)
		}
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	return nil
}

// buildManifest serialises an image manifest for a config blob and layers:
// Docker schema 2 unless a layer is zstd (which Docker media types cannot
// express), then OCI.
func buildManifest(cfgDigest v1.Hash, cfgSize int64, layers []layerInfo) ([]byte, error) {
	oci := false
	for _, l := range layers {
		if l.mediaType == types.OCILayerZStd {
			oci = true
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.DockerManifestSchema2,
		Config:        v1.Descriptor{MediaType: types.DockerConfigJSON, Size: cfgSize, Digest: cfgDigest},
		Layers:        []v1.Descriptor{},
	}
	if oci {
		m.MediaType = types.OCIManifestSchema1
		m.Config.MediaType = types.OCIConfigJSON
	}
	for _, l := range layers {
		mt := l.mediaType
		if oci && mt == types.DockerLayer {
			mt = types.OCILayer
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: mt, Size: l.size, Digest: l.digest})
	}
	return json.Marshal(m)
}
