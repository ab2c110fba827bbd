package builder_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/push"
)

// TestBuildCompression: Options.Compression converts the built layers and the tags name the
// converted image, which is the result.
func TestBuildCompression(t *testing.T) {
	ctx := context.Background()
	b, st := newBuilder(t)
	dir := contextDir(t, "FROM scratch\nCOPY f /f\n")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain, err := b.Build(ctx, builder.Options{ContextDir: dir, Tags: []string{"comp:plain"}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(ctx, builder.Options{ContextDir: dir, Tags: []string{"comp:zstd"}, Compression: push.CompressionZstd})
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifest == plain.Manifest {
		t.Fatal("Compression zstd gave the gzip image")
	}
	if h, err := st.Resolve(ctx, "comp:zstd"); err != nil || h != res.Manifest {
		t.Errorf("comp:zstd = %v, %v; want the converted %s", h, err, res.Manifest)
	}
	img, err := st.Image(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := img.ConfigName(); id != res.ImageID {
		t.Errorf("ImageID %s, want the converted image's config %s", res.ImageID, id)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if !strings.Contains(string(l.MediaType), "zstd") {
			t.Errorf("layer %s is %s, want zstd", l.Digest, l.MediaType)
		}
	}
}
