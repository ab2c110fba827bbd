package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// bytesLayer is a natively compressed test layer.
type bytesLayer struct {
	b  []byte
	mt types.MediaType
}

func (l bytesLayer) Digest() (v1.Hash, error) { return sha(l.b), nil }
func (l bytesLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b)), nil
}
func (l bytesLayer) Size() (int64, error)                { return int64(len(l.b)), nil }
func (l bytesLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

func newLayer(t *testing.T, b []byte, mt types.MediaType) v1.Layer {
	t.Helper()
	l, err := partial.CompressedToLayer(bytesLayer{b: b, mt: mt})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ociImage builds an OCI image from static layers.
func ociImage(t *testing.T, layers ...v1.Layer) v1.Image {
	t.Helper()
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layers...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestWriteImageRoundTrip(t *testing.T) {
	ctx := context.Background()
	tarA := rootfsTar(t, map[string]string{"bin/a": "aaaa", "etc/x": "x"})
	tarB := rootfsTar(t, map[string]string{"usr/b": "bbbb"})
	dockerRandom, err := random.Image(1024, 3)
	if err != nil {
		t.Fatal(err)
	}
	// validate.Image can only digest gzip layers; for the others it runs
	// with validate.Fast and the test checks diff IDs itself.
	tests := []struct {
		name    string
		img     v1.Image
		nonGzip bool
	}{
		{name: "docker schema2 gzip (random)", img: dockerRandom},
		{name: "oci gzip", img: ociImage(t, newLayer(t, gzipBytes(t, tarA), types.OCILayer), newLayer(t, gzipBytes(t, tarB), types.OCILayer))},
		{name: "oci zstd", img: ociImage(t, newLayer(t, zstdBytes(t, tarA), types.OCILayerZStd)), nonGzip: true},
		{name: "oci uncompressed", img: ociImage(t, newLayer(t, tarA, types.OCIUncompressedLayer)), nonGzip: true},
		{name: "duplicate layer", img: ociImage(t, newLayer(t, gzipBytes(t, tarA), types.OCILayer), newLayer(t, gzipBytes(t, tarA), types.OCILayer))},
		{name: "no layers", img: ociImage(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			h, err := s.WriteImage(ctx, tt.img)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := tt.img.Digest()
			if h != want {
				t.Fatalf("digest %s, want %s", h, want)
			}
			got, err := s.Image(h)
			if err != nil {
				t.Fatal(err)
			}
			var opts []validate.Option
			if tt.nonGzip {
				opts = append(opts, validate.Fast)
				checkDiffIDs(t, got)
			}
			if err := validate.Image(got, opts...); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			wantRaw, _ := tt.img.RawManifest()
			gotRaw, _ := got.RawManifest()
			if !bytes.Equal(wantRaw, gotRaw) {
				t.Fatal("manifest bytes differ")
			}
			wantMT, _ := tt.img.MediaType()
			if mt, _ := got.MediaType(); mt != wantMT {
				t.Fatalf("media type %s, want %s", mt, wantMT)
			}
			// Idempotent.
			if h2, err := s.WriteImage(ctx, tt.img); err != nil || h2 != h {
				t.Fatalf("rewrite: %s %v", h2, err)
			}
		})
	}
}

// checkDiffIDs recomputes every layer's diff ID from its uncompressed
// bytes and compares it with the config.
func checkDiffIDs(t *testing.T, img v1.Image) {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != len(cfg.RootFS.DiffIDs) {
		t.Fatalf("%d layers, %d diff IDs", len(layers), len(cfg.RootFS.DiffIDs))
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if h != cfg.RootFS.DiffIDs[i] {
			t.Fatalf("layer %d diff ID %s, config %s", i, h, cfg.RootFS.DiffIDs[i])
		}
	}
}

// failingLayerImage wraps an image so that reading layer bytes fails.
type failingLayerImage struct{ v1.Image }

func (f failingLayerImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	return nil, errors.New("layer source unavailable")
}

// lyingLayerImage serves layer bytes that do not match the manifest.
type lyingLayerImage struct{ v1.Image }

func (f lyingLayerImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	return static.NewLayer([]byte("not the layer"), types.DockerLayer), nil
}

func TestWriteImageLayers(t *testing.T) {
	ctx := context.Background()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("present layers are not read again", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.WriteImage(ctx, img); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriteImage(ctx, failingLayerImage{img}); err != nil {
			t.Fatalf("WriteImage read a layer it already had: %v", err)
		}
	})
	t.Run("wrong layer bytes are rejected, manifest not stored", func(t *testing.T) {
		s := newStore(t)
		_, err := s.WriteImage(ctx, lyingLayerImage{img})
		wantErr(t, err, ErrCorrupt)
		h, _ := img.Digest()
		if s.HasBlob(h) {
			t.Fatal("manifest stored although a layer failed")
		}
		if tmpCount(t, s) != 0 {
			t.Fatal("temp files left")
		}
	})
	t.Run("index rejected", func(t *testing.T) {
		s := newStore(t)
		_, err := s.WriteImage(ctx, mutate.MediaType(img, types.OCIImageIndex))
		wantErr(t, err, ErrUnsupported)
	})
}

func TestImageDetectsDamage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	img, err := random.Image(2048, 1)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image(sha([]byte("nope"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing image: %v", err)
	}
	layers, _ := img.Layers()
	ld, _ := layers[0].Digest()
	p := s.BlobPath(ld)
	b, _ := os.ReadFile(p)
	b[len(b)-20] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := s.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err == nil {
		t.Fatal("validate.Image passed on a corrupted layer")
	}
	l, err := got.LayerByDigest(ld)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading corrupted layer: %v", err)
	}
}
