package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/store"
)

// TestCachedZstdLayerUncompresses: a cache record may name a zstd layer (imported with --cache-from
// from an image whose layers are zstd); the builder's layer of it must decompress as zstd, not gzip.
func TestCachedZstdLayerUncompresses(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi"))
	tw.Close()
	var blob bytes.Buffer
	zw, _ := zstd.NewWriter(&blob)
	zw.Write(tarBuf.Bytes())
	zw.Close()
	digest, size, err := v1.SHA256(bytes.NewReader(blob.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	diffID, _, _ := v1.SHA256(bytes.NewReader(tarBuf.Bytes()))
	if _, _, err := st.WriteBlob(context.Background(), bytes.NewReader(blob.Bytes()), digest); err != nil {
		t.Fatal(err)
	}
	l, err := layerOf(st, &cache.Layer{Digest: digest.String(), DiffID: diffID.String(), Size: size, MediaType: string(types.OCILayerZStd)})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, tarBuf.Bytes()) {
		t.Errorf("uncompressed %d bytes, want the %d of the tar", len(got), tarBuf.Len())
	}
}
