//go:build linux

package snapshot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOverlaySupported(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	if !OverlaySupported(root) {
		t.Fatal("OverlaySupported = false as root on a kernel with overlayfs")
	}
	if names, _ := readDirNames(root); len(names) != 0 {
		t.Errorf("probe left %v behind", names)
	}
	s, err := New(filepath.Join(root, "snapshots"))
	must(t, err)
	if !s.OverlaySupported() || !s.OverlaySupported() {
		t.Error("Snapshotter.OverlaySupported = false")
	}
	assertNoTemps(t, s)
	if OverlaySupported(filepath.Join(root, "missing")) {
		t.Error("OverlaySupported = true for a missing directory")
	}
	// A filesystem without trusted xattrs / whiteout support: overlay
	// upper on a read-only root cannot work.
	ro := filepath.Join(root, "ro")
	must(t, os.Mkdir(ro, 0o555))
	must(t, bindReadOnly(ro, ro))
	defer Unmount(ro)
	if OverlaySupported(ro) {
		t.Error("OverlaySupported = true on a read-only mount")
	}
}
