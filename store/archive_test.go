package store

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// archiveFixture is a store with three images: app (two names), z (OCI,
// zstd layer) and a dangling one.
type archiveFixture struct {
	s          *Store
	app, z, dg v1.Hash
}

func newArchiveFixture(t *testing.T) archiveFixture {
	t.Helper()
	ctx := context.Background()
	s := newStore(t)
	f := archiveFixture{s: s}
	f.app = storeRandom(t, s, "app:1", "app:latest")
	zimg := ociImage(t, newLayer(t, zstdBytes(t, rootfsTar(t, map[string]string{"z": "zz"})), types.OCILayerZStd))
	var err error
	if f.z, err = s.WriteImage(ctx, zimg); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImage(ctx, f.z, "localhost:5000/z:1"); err != nil {
		t.Fatal(err)
	}
	f.dg = storeRandom(t, s)
	return f
}

func (f archiveFixture) refs(t *testing.T) []string {
	return []string{"app:1", "localhost:5000/z:1", imageID(t, f.s, f.dg).Hex[:12]}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{FormatDockerArchive, FormatOCIArchive} {
		t.Run(format, func(t *testing.T) {
			f := newArchiveFixture(t)
			var buf bytes.Buffer
			if err := f.s.Save(ctx, &buf, f.refs(t), format); err != nil {
				t.Fatal(err)
			}
			dst := newStore(t)
			out, err := dst.Load(ctx, bytes.NewReader(buf.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			dgID := imageID(t, f.s, f.dg).String()
			slices.Sort(out)
			want := []string{"app:1", "localhost:5000/z:1", dgID}
			slices.Sort(want)
			if !slices.Equal(out, want) {
				t.Fatalf("Load returned %q, want %q", out, want)
			}
			for _, c := range []struct {
				ref  string
				src  v1.Hash
				fast bool
			}{{"app:1", f.app, false}, {"localhost:5000/z:1", f.z, true}, {dgID, f.dg, false}} {
				m, err := dst.Resolve(ctx, c.ref)
				if err != nil {
					t.Fatalf("resolving %s after load: %v", c.ref, err)
				}
				if got, want := imageID(t, dst, m), imageID(t, f.s, c.src); got != want {
					t.Fatalf("%s: image ID %s, want %s", c.ref, got, want)
				}
				if format == FormatOCIArchive && m != c.src {
					t.Fatalf("%s: OCI round trip changed manifest %s -> %s", c.ref, c.src, m)
				}
				img, _ := dst.Image(m)
				srcImg, _ := f.s.Image(c.src)
				if err := validate.Image(img, fastIf(c.fast)...); err != nil {
					t.Fatalf("%s: %v", c.ref, err)
				}
				checkDiffIDs(t, img)
				// Compressed layers are kept byte for byte.
				gotL, _ := img.Manifest()
				wantL, _ := srcImg.Manifest()
				for i := range wantL.Layers {
					if gotL.Layers[i].Digest != wantL.Layers[i].Digest {
						t.Fatalf("%s: layer %d digest changed", c.ref, i)
					}
				}
			}
			// Only the requested names travel: app:latest was not saved.
			if _, err := dst.Resolve(ctx, "app:latest"); err == nil {
				t.Fatal("app:latest was loaded but not saved")
			}
			if tmpCount(t, dst) != 0 {
				t.Fatal("temp files left after Load")
			}
		})
	}
}

func fastIf(b bool) []validate.Option {
	if b {
		return []validate.Option{validate.Fast}
	}
	return nil
}

func TestLoadInputs(t *testing.T) {
	ctx := context.Background()
	f := newArchiveFixture(t)
	var buf bytes.Buffer
	if err := f.s.Save(ctx, &buf, []string{"app:1"}, FormatOCIArchive); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		open func(t *testing.T) io.Reader
	}{
		{"reader", func(*testing.T) io.Reader { return bytes.NewReader(buf.Bytes()) }},
		{"gzip compressed", func(t *testing.T) io.Reader { return bytes.NewReader(gzipBytes(t, buf.Bytes())) }},
		{"regular file, in place", func(t *testing.T) io.Reader {
			fh, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fh.Close() })
			return fh
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := newStore(t)
			out, err := dst.Load(ctx, tt.open(t))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out, []string{"app:1"}) {
				t.Fatalf("Load = %q", out)
			}
			if m, err := dst.Resolve(ctx, "app:1"); err != nil || m != f.app {
				t.Fatalf("Resolve = %s, %v", m, err)
			}
		})
	}
	t.Run("not an archive", func(t *testing.T) {
		_, err := newStore(t).Load(ctx, bytes.NewReader(rootfsTar(t, map[string]string{"x": "y"})))
		wantErr(t, err, ErrUnsupported)
	})
	t.Run("bad format name", func(t *testing.T) {
		wantErr(t, f.s.Save(ctx, io.Discard, []string{"app:1"}, "zip"), ErrUnsupported)
	})
	t.Run("unknown ref", func(t *testing.T) {
		wantErr(t, f.s.Save(ctx, io.Discard, []string{"nope:1"}, FormatOCIArchive), ErrNotFound)
	})
}

func TestLoadRejectsCorruption(t *testing.T) {
	ctx := context.Background()
	for _, format := range []string{FormatDockerArchive, FormatOCIArchive} {
		t.Run(format, func(t *testing.T) {
			f := newArchiveFixture(t)
			var buf bytes.Buffer
			if err := f.s.Save(ctx, &buf, []string{"app:1", "localhost:5000/z:1"}, format); err != nil {
				t.Fatal(err)
			}
			// Flip a byte in the middle of app's last layer inside the tar.
			img, _ := f.s.Image(f.app)
			m, _ := img.Manifest()
			layer, err := os.ReadFile(f.s.BlobPath(m.Layers[len(m.Layers)-1].Digest))
			if err != nil {
				t.Fatal(err)
			}
			b := bytes.Clone(buf.Bytes())
			i := bytes.Index(b, layer)
			if i < 0 {
				t.Fatal("layer bytes not found in archive")
			}
			b[i+len(layer)/2] ^= 0x40
			dst := newStore(t)
			_, err = dst.Load(ctx, bytes.NewReader(b))
			if err == nil {
				t.Fatal("Load accepted a corrupted layer")
			}
			t.Logf("Load error: %v", err)
			if list, err := dst.List(ctx); err != nil || len(list) != 0 {
				t.Fatalf("corrupted load recorded images: %v %v", list, err)
			}
		})
	}
}

// dockerSaveArchive builds an archive shaped like classic `docker save`:
// uncompressed layer.tar files under per-layer dirs, "<id>.json" config,
// a symlinked duplicate layer, and a "repositories" file.
func dockerSaveArchive(t *testing.T, diffIDOverride *v1.Hash) ([]byte, v1.Hash) {
	t.Helper()
	layer := rootfsTar(t, map[string]string{"etc/hostname": "legacy\n"})
	diff := sha(layer)
	if diffIDOverride != nil {
		diff = *diffIDOverride
	}
	cfg := v1.ConfigFile{Architecture: runtime.GOARCH, OS: "linux",
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diff, diff}},
		Config: v1.Config{Cmd: []string{"/bin/sh"}}}
	cfgRaw, _ := json.Marshal(cfg)
	id := sha(cfgRaw)
	manifest, _ := json.Marshal([]map[string]any{{
		"Config": id.Hex + ".json", "RepoTags": []string{"legacy:1", "legacy:2"},
		"Layers": []string{"aaa/layer.tar", "bbb/layer.tar"},
	}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.WriteHeader(&tar.Header{Name: "aaa/", Mode: 0o755, Typeflag: tar.TypeDir})
	add("aaa/layer.tar", layer)
	tw.WriteHeader(&tar.Header{Name: "bbb/", Mode: 0o755, Typeflag: tar.TypeDir})
	tw.WriteHeader(&tar.Header{Name: "bbb/layer.tar", Typeflag: tar.TypeSymlink, Linkname: "../aaa/layer.tar"})
	add(id.Hex+".json", cfgRaw)
	add("repositories", []byte(`{"legacy":{"1":"x"}}`))
	add("manifest.json", manifest)
	tw.Close()
	return buf.Bytes(), id
}

func TestLoadClassicDockerSave(t *testing.T) {
	ctx := context.Background()
	t.Run("valid", func(t *testing.T) {
		b, id := dockerSaveArchive(t, nil)
		s := newStore(t)
		out, err := s.Load(ctx, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(out, []string{"legacy:1", "legacy:2"}) {
			t.Fatalf("Load = %q", out)
		}
		m, err := s.Resolve(ctx, id.String())
		if err != nil {
			t.Fatal(err)
		}
		img, _ := s.Image(m)
		if err := validate.Image(img); err != nil {
			t.Fatal(err)
		}
		if mt, _ := img.MediaType(); mt != types.DockerManifestSchema2 {
			t.Fatalf("media type %s", mt)
		}
	})
	t.Run("wrong diff ID", func(t *testing.T) {
		bad := sha([]byte("not the layer"))
		b, _ := dockerSaveArchive(t, &bad)
		s := newStore(t)
		_, err := s.Load(ctx, bytes.NewReader(b))
		wantErr(t, err, ErrCorrupt)
		if blobCount(t, s) != 0 || tmpCount(t, s) != 0 {
			t.Fatalf("rejected load left blobs %d tmp %d", blobCount(t, s), tmpCount(t, s))
		}
	})
}

func TestLoadOCIMultiPlatformIndex(t *testing.T) {
	ctx := context.Background()
	mine := mustRandom(t)
	other := mustRandom(t)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: other, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x-not-" + runtime.GOARCH}}},
		mutate.IndexAddendum{Add: mine, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: runtime.GOARCH}}},
	)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationRefName: "example.com/multi:1"})); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(other, layout.WithAnnotations(map[string]string{annotationRefName: "latest"})); err != nil {
		t.Fatal(err)
	}
	s := newStore(t)
	out, err := s.Load(ctx, bytes.NewReader(tarDir(t, dir)))
	if err != nil {
		t.Fatal(err)
	}
	otherID, _ := other.ConfigName()
	if !slices.Equal(out, []string{"example.com/multi:1", otherID.String()}) {
		t.Fatalf("Load = %q (a bare ref.name must not become a name)", out)
	}
	want, _ := mine.Digest()
	if m, err := s.Resolve(ctx, "example.com/multi:1"); err != nil || m != want {
		t.Fatalf("Resolve = %s %v, want %s", m, err, want)
	}
}

// tarDir tars a directory tree.
func tarDir(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Name: rel + "/", Mode: 0o755, Typeflag: tar.TypeDir})
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.Bytes()
}
