package testutil

import (
	"bytes"
	"context"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/store"
)

// Multi-platform tests need base images of another architecture without Docker Hub. The arm64 one
// is made like the host's busybox image, from Debian's busybox-static for arm64 (the mirror serves
// arm64 packages; hack/deps.sh downloads the .deb with `apt-get download busybox-static:arm64` and
// extracts bin/busybox to prereq.Arm64Busybox). Listing its applets runs it, so it also needs the
// arm64 emulator (prereq.Arm64).

// Arm64BusyboxImage is BusyboxImage for linux/arm64, from Debian's arm64 busybox-static.
func Arm64BusyboxImage(t testing.TB) v1.Image {
	t.Helper()
	prereq.Require(t, prereq.Arm64)
	img, err := busyboxImageFor(prereq.Arm64Busybox, "arm64")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// HostBusyboxImage is BusyboxImage of the host's /bin/busybox (prereq.Busybox).
func HostBusyboxImage(t testing.TB) v1.Image {
	t.Helper()
	BusyboxTar(t)
	img, err := BusyboxImage("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func busyboxImageFor(busyboxPath, arch string) (v1.Image, error) {
	var buf bytes.Buffer
	if err := WriteBusyboxRootfs(&buf, busyboxPath); err != nil {
		return nil, err
	}
	rootfs := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(rootfs)), nil })
	if err != nil {
		return nil, err
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: arch, OS: "linux",
		RootFS: v1.RootFS{Type: "layers"}, Config: BusyboxConfig()})
	if err != nil {
		return nil, err
	}
	return mutate.AppendLayers(img, plainLayer{layer})
}

// DebianImage is a Debian bookworm image for arch (amd64 or arm64) without Docker Hub: one layer,
// the minbase root filesystem hack/deps.sh made with mmdebstrap from Debian's mirror
// (prereq.DebianRootfs, gzipped: it is the layer's blob as is), and debian:bookworm's config (PATH,
// Cmd ["bash"]) and, as Docker Hub's Debian images now have, OCI media types.
func DebianImage(t testing.TB, arch string) v1.Image {
	t.Helper()
	prereq.Require(t, prereq.Debian)
	layer, err := tarball.LayerFromFile(prereq.DebianRootfs(arch), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.ConfigFile(base, &v1.ConfigFile{Architecture: arch, OS: "linux",
		RootFS: v1.RootFS{Type: "layers"}, Config: v1.Config{
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Cmd: []string{"bash"},
		}})
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.AppendLayers(img, plainLayer{layer})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// MultiPlatformIndex is an OCI index of imgs, each listed with the platform its config declares.
func MultiPlatformIndex(t testing.TB, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, img := range imgs {
		cfg, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		mt, err := img.MediaType()
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{MediaType: mt,
			Platform: &v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}}})
	}
	return idx
}

// StoreIndex writes idx into st and names it.
func StoreIndex(t testing.TB, st *store.Store, idx v1.ImageIndex, name string) v1.Hash {
	t.Helper()
	ctx := context.Background()
	h, err := st.WriteIndex(ctx, idx)
	if err != nil {
		t.Fatalf("storing index: %v", err)
	}
	if err := st.AddImage(ctx, h, name); err != nil {
		t.Fatal(err)
	}
	return h
}
