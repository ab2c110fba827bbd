package push

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"

	"github.com/containerd/stargz-snapshotter/estargz"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	"github.com/hoistbuild/hoist/internal/ctxio"
	"github.com/hoistbuild/hoist/store"
)

// Compression is a layer compression for Convert.
type Compression string

// Compressions.
const (
	CompressionKeep    Compression = ""        // layers as stored
	CompressionGzip    Compression = "gzip"    // gzip (zstd layers are recompressed; estargz stays, it is gzip)
	CompressionZstd    Compression = "zstd"    // zstd, OCI media types
	CompressionEstargz Compression = "estargz" // eStargz (gzip with a TOC), OCI media types, TOC digest annotation
)

// ParseCompression parses a --compression value ("" keeps layers as stored).
func ParseCompression(s string) (Compression, error) {
	switch c := Compression(s); c {
	case CompressionKeep, CompressionGzip, CompressionZstd, CompressionEstargz:
		return c, nil
	}
	return "", fmt.Errorf("--compression: unknown compression %q (gzip, zstd, estargz)", s)
}

// Convert writes into st a copy of the stored image h whose layers use compression c and returns its
// manifest digest; the new image is not recorded in the index (the caller names it with AddImage).
// Layers already in c are kept byte for byte. gzip and zstd conversions keep every diff ID (checked);
// estargz rewrites the tar (it adds the TOC entry), so its diff IDs and the config change, and every
// layer gets the containerd.io/snapshot/stargz/toc.digest and io.containers.estargz.uncompressed-size
// annotations that lazy-pulling runtimes read. zstd and estargz images get OCI media types.
func Convert(ctx context.Context, st *store.Store, h v1.Hash, c Compression) (v1.Hash, error) {
	if c == CompressionKeep {
		return h, nil
	}
	img, err := st.Image(h)
	if err != nil {
		return v1.Hash{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return v1.Hash{}, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Hash{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Hash{}, err
	}
	oci := mt == types.OCIManifestSchema1 || c != CompressionGzip
	out := m.DeepCopy()
	changed := false
	for i, d := range m.Layers {
		nd, diffID, err := convertLayer(ctx, st, d, c, oci)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("converting layer %s to %s: %w", d.Digest, c, err)
		}
		if nd.Digest != d.Digest || nd.MediaType != d.MediaType {
			changed = true
		}
		out.Layers[i] = nd
		if i < len(cfg.RootFS.DiffIDs) && diffID != (v1.Hash{}) {
			if c != CompressionEstargz && diffID != cfg.RootFS.DiffIDs[i] {
				return v1.Hash{}, fmt.Errorf("converting layer %s: diff ID %s, config says %s: %w", d.Digest, diffID, cfg.RootFS.DiffIDs[i], store.ErrCorrupt)
			}
			cfg.RootFS.DiffIDs[i] = diffID
		}
	}
	if !changed && (!oci || mt == types.OCIManifestSchema1) {
		return h, nil
	}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return v1.Hash{}, err
	}
	cd, cs, err := st.WriteBlob(ctx, bytes.NewReader(rawCfg), v1.Hash{})
	if err != nil {
		return v1.Hash{}, err
	}
	out.Config.Digest, out.Config.Size = cd, cs
	if oci {
		out.MediaType = types.OCIManifestSchema1
		out.Config.MediaType = types.OCIConfigJSON
	}
	raw, err := json.Marshal(out)
	if err != nil {
		return v1.Hash{}, err
	}
	md, _, err := st.WriteBlob(ctx, bytes.NewReader(raw), v1.Hash{})
	return md, err
}

func isZstd(mt types.MediaType) bool { return mt == types.OCILayerZStd }

// convertLayer returns d converted to c (d itself when already there) and the new diff ID (zero when
// unchanged).
func convertLayer(ctx context.Context, st *store.Store, d v1.Descriptor, c Compression, oci bool) (v1.Descriptor, v1.Hash, error) {
	gzipType := types.DockerLayer
	if oci {
		gzipType = types.OCILayer
	}
	switch c {
	case CompressionGzip:
		if !isZstd(d.MediaType) {
			return d, v1.Hash{}, nil
		}
		return recompress(ctx, st, d, gzipType, func(w io.Writer) (io.WriteCloser, error) {
			zw := pgzip.NewWriter(w)
			return zw, zw.SetConcurrency(1<<20, 2*runtime.GOMAXPROCS(0))
		})
	case CompressionZstd:
		if isZstd(d.MediaType) {
			return d, v1.Hash{}, nil
		}
		return recompress(ctx, st, d, types.OCILayerZStd, func(w io.Writer) (io.WriteCloser, error) {
			return zstd.NewWriter(w, zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
		})
	case CompressionEstargz:
		if _, ok := d.Annotations[estargz.TOCJSONDigestAnnotation]; ok {
			return d, v1.Hash{}, nil
		}
		return toEstargz(ctx, st, d, gzipType)
	}
	return d, v1.Hash{}, fmt.Errorf("unknown compression %q", c)
}

// decompressor opens the uncompressed tar of a stored layer blob.
func decompressor(r io.Reader, mt types.MediaType) (io.ReadCloser, error) {
	switch {
	case isZstd(mt):
		dec, err := zstd.NewReader(r)
		if err != nil {
			return nil, err
		}
		return dec.IOReadCloser(), nil
	case mt == types.OCIUncompressedLayer || mt == types.DockerUncompressedLayer:
		return io.NopCloser(r), nil
	default:
		return gzip.NewReader(r)
	}
}

func recompress(ctx context.Context, st *store.Store, d v1.Descriptor, mt types.MediaType, newWriter func(io.Writer) (io.WriteCloser, error)) (v1.Descriptor, v1.Hash, error) {
	src, err := st.OpenBlob(d.Digest)
	if err != nil {
		return d, v1.Hash{}, err
	}
	defer src.Close()
	plain, err := decompressor(src, d.MediaType)
	if err != nil {
		return d, v1.Hash{}, err
	}
	defer plain.Close()
	bw, err := st.NewBlobWriter()
	if err != nil {
		return d, v1.Hash{}, err
	}
	defer bw.Abort()
	cw, err := newWriter(bw)
	if err != nil {
		return d, v1.Hash{}, err
	}
	diff := sha256.New()
	if _, err := io.Copy(io.MultiWriter(cw, diff), ctxio.Reader(ctx, plain)); err != nil {
		cw.Close()
		return d, v1.Hash{}, err
	}
	// Read to the end so the store's verifying reader checks the source digest.
	if _, err := io.Copy(io.Discard, src); err != nil {
		cw.Close()
		return d, v1.Hash{}, err
	}
	if err := cw.Close(); err != nil {
		return d, v1.Hash{}, err
	}
	h, n, err := bw.Commit(v1.Hash{})
	if err != nil {
		return d, v1.Hash{}, err
	}
	nd := v1.Descriptor{MediaType: mt, Digest: h, Size: n, Annotations: d.Annotations}
	return nd, v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}, nil
}

func toEstargz(ctx context.Context, st *store.Store, d v1.Descriptor, mt types.MediaType) (v1.Descriptor, v1.Hash, error) {
	// estargz.Build needs random access; the stored blob is a file (gzip, zstd or plain tar input is
	// accepted by Build). Check its digest first: Build reads it in pieces, not through a verifier.
	if err := verifyBlob(st, d.Digest); err != nil {
		return d, v1.Hash{}, err
	}
	f, err := os.Open(st.BlobPath(d.Digest))
	if err != nil {
		return d, v1.Hash{}, err
	}
	defer f.Close()
	blob, err := estargz.Build(io.NewSectionReader(f, 0, d.Size),
		estargz.WithContext(ctx),
		estargz.WithCompressionLevel(gzip.DefaultCompression),
		estargz.WithParallelism(runtime.GOMAXPROCS(0)))
	if err != nil {
		return d, v1.Hash{}, err
	}
	defer blob.Close()
	h, n, err := st.WriteBlob(ctx, blob, v1.Hash{})
	if err != nil {
		return d, v1.Hash{}, err
	}
	usize, err := blob.UncompressedSize()
	if err != nil {
		return d, v1.Hash{}, err
	}
	diffID, err := v1.NewHash(blob.DiffID().String())
	if err != nil {
		return d, v1.Hash{}, err
	}
	ann := map[string]string{}
	for k, v := range d.Annotations {
		ann[k] = v
	}
	ann[estargz.TOCJSONDigestAnnotation] = blob.TOCDigest().String()
	ann[estargz.StoreUncompressedSizeAnnotation] = strconv.FormatInt(usize, 10)
	return v1.Descriptor{MediaType: mt, Digest: h, Size: n, Annotations: ann}, diffID, nil
}

func verifyBlob(st *store.Store, h v1.Hash) error {
	rc, err := st.OpenBlob(h)
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	return err
}
