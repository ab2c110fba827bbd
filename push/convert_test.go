package push

import (
	"context"
	"io"
	"os"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	digest "github.com/opencontainers/go-digest"
)

func TestConvert(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	src, h := storeRandom(t, st, 2)
	srcCfg, _ := src.ConfigFile()

	zh, err := Convert(ctx, st, h, CompressionZstd)
	if err != nil {
		t.Fatal(err)
	}
	zimg, _ := st.Image(zh)
	if err := validate.Image(zimg, validate.Fast); err != nil { // validate's layer check assumes gzip
		t.Errorf("zstd image invalid: %v", err)
	}
	zlayers, _ := zimg.Layers()
	for i, l := range zlayers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || h != srcCfg.RootFS.DiffIDs[i] {
			t.Errorf("zstd layer %d decompresses to %s (%v), want %s", i, h, err, srcCfg.RootFS.DiffIDs[i])
		}
	}
	zm, _ := zimg.Manifest()
	zcfg, _ := zimg.ConfigFile()
	for i, l := range zm.Layers {
		if l.MediaType != types.OCILayerZStd || zcfg.RootFS.DiffIDs[i] != srcCfg.RootFS.DiffIDs[i] {
			t.Errorf("zstd layer %d: %s, diff ID %s (source %s)", i, l.MediaType, zcfg.RootFS.DiffIDs[i], srcCfg.RootFS.DiffIDs[i])
		}
	}
	// Converting again is a no-op; back to gzip restores the diff IDs too.
	if again, err := Convert(ctx, st, zh, CompressionZstd); err != nil || again != zh {
		t.Errorf("zstd of a zstd image: %s %v", again, err)
	}
	gh, err := Convert(ctx, st, zh, CompressionGzip)
	if err != nil {
		t.Fatal(err)
	}
	gimg, _ := st.Image(gh)
	if err := validate.Image(gimg); err != nil {
		t.Errorf("gzip image invalid: %v", err)
	}

	eh, err := Convert(ctx, st, h, CompressionEstargz)
	if err != nil {
		t.Fatal(err)
	}
	eimg, _ := st.Image(eh)
	if err := validate.Image(eimg); err != nil {
		t.Errorf("estargz image invalid: %v", err)
	}
	em, _ := eimg.Manifest()
	for i, l := range em.Layers {
		toc := l.Annotations[estargz.TOCJSONDigestAnnotation]
		if toc == "" || l.Annotations[estargz.StoreUncompressedSizeAnnotation] == "" {
			t.Fatalf("layer %d lacks the estargz annotations: %v", i, l.Annotations)
		}
		// The estargz package's own verification: open the blob, check the TOC against the
		// annotation and every chunk against the TOC.
		f, err := os.Open(st.BlobPath(l.Digest))
		if err != nil {
			t.Fatal(err)
		}
		r, err := estargz.Open(io.NewSectionReader(f, 0, l.Size))
		if err != nil {
			t.Fatalf("layer %d: estargz.Open: %v", i, err)
		}
		if _, err := r.VerifyTOC(digest.Digest(toc)); err != nil {
			t.Errorf("layer %d: VerifyTOC: %v", i, err)
		}
		f.Close()
	}
}
