package testutil

import (
	"bytes"
	"fmt"
	"io"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxConfig returns the runtime config of refenv's busybox:latest (set by
// `docker import --change` in shared/refenv/setup.sh): PATH in Env and
// Cmd ["sh"], nothing else. Each call returns a fresh value.
func BusyboxConfig() v1.Config {
	return v1.Config{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"sh"},
	}
}

// BusyboxImage returns an in-memory, single-layer image equivalent to
// refenv's busybox:latest for fsdump purposes: its layer is
// WriteBusyboxRootfs(busyboxPath), its config BusyboxConfig(), OS linux and
// the architecture of the running program. It lets tests that have no
// dockerd build on the base the corpus goldens were recorded with.
//
// The rootfs tar is built once, eagerly, and held in memory (about 2 MB);
// the returned image is immutable and safe for concurrent use.
func BusyboxImage(busyboxPath string) (v1.Image, error) {
	var buf bytes.Buffer
	if err := WriteBusyboxRootfs(&buf, busyboxPath); err != nil {
		return nil, err
	}
	rootfs := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(rootfs)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating busybox layer: %w", err)
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		RootFS:       v1.RootFS{Type: "layers"},
		Config:       BusyboxConfig(),
	})
	if err != nil {
		return nil, fmt.Errorf("setting busybox config: %w", err)
	}
	img, err = mutate.AppendLayers(img, plainLayer{layer})
	if err != nil {
		return nil, fmt.Errorf("appending busybox layer: %w", err)
	}
	return img, nil
}

// plainLayer hides the Descriptor method of tarball layers, whose empty
// annotation map makes the in-memory manifest differ from its serialized
// form (validate.Image reports it); the descriptor is then derived from
// Digest, Size and MediaType only.
type plainLayer struct{ v1.Layer }

var _ v1.Layer = plainLayer{}
