package store

import (
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// estargzBytes converts the tar b to an estargz blob, returning it with its diff ID (estargz
// rewrites the tar: the diff ID is that of the rewritten tar).
func estargzBytes(t *testing.T, b []byte) ([]byte, v1.Hash) {
	t.Helper()
	blob, err := estargz.Build(io.NewSectionReader(bytes.NewReader(b), 0, int64(len(b))))
	if err != nil {
		t.Fatal(err)
	}
	defer blob.Close()
	out, err := io.ReadAll(blob)
	if err != nil {
		t.Fatal(err)
	}
	diffID, err := v1.NewHash(blob.DiffID().String())
	if err != nil {
		t.Fatal(err)
	}
	return out, diffID
}

// TestLayerEveryMediaType: Store.Layer reads back every kind of layer blob the store holds, its
// uncompressed stream hashing to the diff ID, with the caller's descriptor kept.
func TestLayerEveryMediaType(t *testing.T) {
	ctx := context.Background()
	tarball := rootfsTar(t, map[string]string{"bin/a": "aaaa", "etc/x": "x"})
	tarDiff := sha(tarball)
	esgz, esgzDiff := estargzBytes(t, tarball)
	for _, tc := range []struct {
		name   string
		blob   []byte
		mt     types.MediaType
		diffID v1.Hash
		annot  map[string]string
	}{
		{"docker gzip", gzipBytes(t, tarball), types.DockerLayer, tarDiff, nil},
		{"oci gzip", gzipBytes(t, tarball), types.OCILayer, tarDiff, nil},
		{"oci zstd", zstdBytes(t, tarball), types.OCILayerZStd, tarDiff, nil},
		{"oci uncompressed", tarball, types.OCIUncompressedLayer, tarDiff, nil},
		{"docker uncompressed", tarball, types.DockerUncompressedLayer, tarDiff, nil},
		{"estargz", esgz, types.OCILayer, esgzDiff, map[string]string{"containerd.io/snapshot/stargz/toc.digest": "sha256:x"}},
		// The bytes decide, as in ggcr and containerd: a zstd blob the media type calls gzip still reads.
		{"zstd called gzip", zstdBytes(t, tarball), types.DockerLayer, tarDiff, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			digest, _, err := s.WriteBlob(ctx, bytes.NewReader(tc.blob), v1.Hash{})
			if err != nil {
				t.Fatal(err)
			}
			desc := v1.Descriptor{MediaType: tc.mt, Size: int64(len(tc.blob)), Digest: digest, Annotations: tc.annot}
			l, err := s.Layer(desc, tc.diffID)
			if err != nil {
				t.Fatal(err)
			}
			if got := readUncompressed(t, l); got != tc.diffID {
				t.Errorf("uncompressed stream hashes to %s, want %s", got, tc.diffID)
			}
			if d, _ := l.DiffID(); d != tc.diffID {
				t.Errorf("DiffID %s, want %s", d, tc.diffID)
			}
			if d, _ := l.Digest(); d != digest {
				t.Errorf("Digest %s, want %s", d, digest)
			}
			if mt, _ := l.MediaType(); mt != tc.mt {
				t.Errorf("MediaType %s, want %s", mt, tc.mt)
			}
			if n, _ := l.Size(); n != int64(len(tc.blob)) {
				t.Errorf("Size %d, want %d", n, len(tc.blob))
			}
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(raw, tc.blob) {
				t.Errorf("Compressed: %d bytes, %v; want the %d stored", len(raw), err, len(tc.blob))
			}
			got, err := l.(interface {
				Descriptor() (*v1.Descriptor, error)
			}).Descriptor()
			if err != nil || got.Annotations["containerd.io/snapshot/stargz/toc.digest"] != tc.annot["containerd.io/snapshot/stargz/toc.digest"] {
				t.Errorf("Descriptor %+v, %v; want the caller's %+v", got, err, desc)
			}
		})
	}
}

func readUncompressed(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	h, _, err := v1.SHA256(rc)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestLayerBadInput: a bad digest is refused before anything is read; a missing blob, a damaged
// one and a compression no layer media type names fail when read, with the store's errors.
func TestLayerBadInput(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tarball := rootfsTar(t, map[string]string{"a": "a"})
	good := sha(tarball)
	if _, err := s.Layer(v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: "../../etc"}}, good); err == nil {
		t.Error("Layer accepted a digest that is not one")
	}
	if _, err := s.Layer(v1.Descriptor{Digest: good}, v1.Hash{}); err == nil {
		t.Error("Layer accepted no diff ID")
	}

	missing, err := s.Layer(v1.Descriptor{Digest: sha([]byte("absent")), MediaType: types.OCILayer}, good)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := missing.Uncompressed(); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing blob: %v, want ErrNotFound", err)
	}

	gz := gzipBytes(t, bytes.Repeat(tarball, 20))
	d, _, err := s.WriteBlob(ctx, bytes.NewReader(gz), v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(s.BlobPath(d))
	b[len(b)-10] ^= 0xff
	if err := os.WriteFile(s.BlobPath(d), b, 0o644); err != nil {
		t.Fatal(err)
	}
	damaged, _ := s.Layer(v1.Descriptor{Digest: d, MediaType: types.OCILayer, Size: int64(len(gz))}, good)
	if rc, err := damaged.Uncompressed(); err == nil {
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err == nil {
			t.Error("a damaged blob read without error")
		}
	}

	bz := []byte("BZh91AY&SY") // a bzip2 stream's header
	if _, err := bzip2.NewReader(bytes.NewReader(bz)).Read(make([]byte, 1)); err == nil {
		t.Fatal("test header is not what it should be")
	}
	d, _, err = s.WriteBlob(ctx, bytes.NewReader(bz), v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := s.Layer(v1.Descriptor{Digest: d, MediaType: types.OCILayer, Size: int64(len(bz))}, good)
	if _, err := l.Uncompressed(); !errors.Is(err, ErrUnsupported) {
		t.Errorf("bzip2 blob: %v, want ErrUnsupported", err)
	}
}

// TestImageLayersAreStoreLayers: a stored image's layers (Layers, LayerByDigest, LayerByDiffID)
// are the store's own, with the manifest's descriptors and the config's diff IDs, and decompress
// as Layer's do (a zstd layer too).
func TestImageLayersAreStoreLayers(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	tarA := rootfsTar(t, map[string]string{"a": "a"})
	tarB := rootfsTar(t, map[string]string{"b": "b"})
	src := ociImage(t, newLayer(t, zstdBytes(t, tarA), types.OCILayerZStd), newLayer(t, gzipBytes(t, tarB), types.OCILayer))
	h, err := s.WriteImage(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []v1.Hash{sha(tarA), sha(tarB)} {
		if _, ok := layers[i].(*storeBlob); !ok {
			t.Errorf("layer %d is a %T, not the store's", i, layers[i])
		}
		if got := readUncompressed(t, layers[i]); got != want {
			t.Errorf("layer %d uncompressed to %s, want %s", i, got, want)
		}
		byDiff, err := img.LayerByDiffID(want)
		if err != nil {
			t.Fatal(err)
		}
		d1, _ := byDiff.Digest()
		d2, _ := layers[i].Digest()
		if d1 != d2 {
			t.Errorf("LayerByDiffID(%s) is %s, want %s", want, d1, d2)
		}
		byDigest, err := img.LayerByDigest(d2)
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := byDigest.DiffID(); id != want {
			t.Errorf("LayerByDigest(%s).DiffID() = %s, want %s", d2, id, want)
		}
	}
	if _, err := img.LayerByDiffID(sha([]byte("nope"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown diff ID: %v, want ErrNotFound", err)
	}
}
