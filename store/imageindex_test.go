package store

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// platformImage is a random image whose config declares linux/arch.
func platformImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func twoPlatformIndex(t *testing.T, archs ...string) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, a := range archs {
		img := platformImage(t, a)
		mt, _ := img.MediaType()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img,
			Descriptor: v1.Descriptor{MediaType: mt, Platform: &v1.Platform{OS: "linux", Architecture: a}}})
	}
	return idx
}

func TestIndexInStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	idx := twoPlatformIndex(t, runtime.GOARCH, other)
	h, err := s.WriteIndex(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := idx.Digest(); h != want {
		t.Fatalf("WriteIndex = %s, want %s", h, want)
	}
	if err := s.AddImage(ctx, h, "multi:1"); err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()

	// One entry; its ID is the index digest.
	list, err := s.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != h || list[0].Manifest != h {
		t.Fatalf("List = %+v, %v", list, err)
	}
	// The host's image by default, the other on request, none for a third platform.
	img, mh, err := s.ImageFor(h, nil)
	if err != nil || mh != im.Manifests[0].Digest {
		t.Fatalf("ImageFor(host) = %s, %v", mh, err)
	}
	if cfg, _ := img.ConfigFile(); cfg.Architecture != runtime.GOARCH {
		t.Errorf("host image is %s", cfg.Architecture)
	}
	if _, mh, err := s.ImageFor(h, &v1.Platform{OS: "linux", Architecture: other}); err != nil || mh != im.Manifests[1].Digest {
		t.Errorf("ImageFor(%s) = %s, %v", other, mh, err)
	}
	_, _, err = s.ImageFor(h, &v1.Platform{OS: "linux", Architecture: "s390x"})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no image for linux/s390x") {
		t.Errorf("ImageFor(s390x) = %v", err)
	}
	// inspect: the host's config, the index's descriptor and manifests.
	insp, err := s.Inspect(ctx, "multi:1")
	if err != nil {
		t.Fatal(err)
	}
	if insp.ID != h.String() || insp.Architecture != runtime.GOARCH || insp.Descriptor == nil || insp.Descriptor.Digest != h ||
		len(insp.Manifests) != 2 || !insp.Manifests[1].Available || insp.Manifests[1].Descriptor.Platform.Architecture != other {
		t.Errorf("Inspect = %+v", insp)
	}
	if hist, err := s.History(ctx, "multi:1"); err != nil || len(hist) == 0 {
		t.Errorf("History = %v, %v", hist, err)
	}
	// Resolve by the ID (the index digest) and a prefix of it.
	if got, err := s.Resolve(ctx, h.Hex[:12]); err != nil || got != h {
		t.Errorf("Resolve(short id) = %s, %v", got, err)
	}
	// Every blob of every platform is referenced.
	refs, err := s.ReferencedBlobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		child, _ := idx.Image(d.Digest)
		m, _ := child.Manifest()
		for _, b := range append([]v1.Descriptor{d, m.Config}, m.Layers...) {
			if !refs[b.Digest] {
				t.Errorf("blob %s of %s not referenced", b.Digest, d.Platform)
			}
		}
	}
	// An OCI archive keeps the index.
	var buf bytes.Buffer
	if err := s.Save(ctx, &buf, []string{"multi:1"}, FormatOCIArchive); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte(h.Hex)) || !bytes.Contains(buf.Bytes(), []byte(im.Manifests[1].Digest.Hex)) {
		t.Errorf("the OCI archive lacks the index or its arm64 manifest")
	}
	lines, err := s.Remove(ctx, "multi:1", false)
	if err != nil || !slices.Equal(lines, []string{"Untagged: multi:1", "Deleted: " + h.String()}) {
		t.Errorf("Remove = %v, %v", lines, err)
	}
}

func TestIndexBadInput(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	idx := twoPlatformIndex(t, "amd64", "arm64")
	h, _ := idx.Digest()
	// An index whose manifests are not stored cannot be recorded.
	raw, _ := idx.RawManifest()
	if _, _, err := s.writeBlob(ctx, bytes.NewReader(raw), h, int64(len(raw))); err != nil {
		t.Fatal(err)
	}
	if err := s.AddImage(ctx, h, "partial:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddImage of an index without its manifests = %v", err)
	}
	// Nested indexes are refused.
	nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: idx})
	if _, err := s.WriteIndex(ctx, nested); !errors.Is(err, ErrUnsupported) {
		t.Errorf("WriteIndex(nested) = %v", err)
	}
	if _, _, err := s.IndexManifest(storeRandom(t, s)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("IndexManifest of an image = %v", err)
	}
}
