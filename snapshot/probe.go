//go:build linux

package snapshot

import (
	"os"
	"path/filepath"
)

// OverlaySupported reports whether overlayfs, as hoist uses it, works for
// directories on root's filesystem: it mounts a small overlay in a temp
// dir under root (created and removed by the call), deletes a lower file
// and recreates a lower directory through it, and checks that the upper dir
// got a 0/0 whiteout and trusted.overlay.opaque=y. That needs root (or an
// equivalent user namespace setup) and a filesystem with trusted xattrs;
// inside many containers it fails, and callers fall back to Flatten and
// WriteDiffCompare. Each call probes anew; callers cache the answer (the
// Snapshotter method does).
func OverlaySupported(root string) bool {
	dir, err := os.MkdirTemp(root, ".overlay-probe-")
	if err != nil {
		return false
	}
	defer removeAllUnmounting(dir)
	return probeOverlay(dir)
}

// OverlaySupported is the package-level OverlaySupported for the store's
// root, probed once per Snapshotter (in a crash-safe temp dir) and cached.
func (s *Snapshotter) OverlaySupported() bool {
	s.overlayOnce.Do(func() {
		t, err := newTemp(s.tmpDir(), "probe-")
		if err != nil {
			return
		}
		defer t.release()
		s.overlayOK = probeOverlay(t.dir)
	})
	return s.overlayOK
}

func probeOverlay(dir string) bool {
	lower := filepath.Join(dir, "lower")
	upper := filepath.Join(dir, "upper")
	work := filepath.Join(dir, "work")
	merged := filepath.Join(dir, "merged")
	for _, d := range []string{lower, filepath.Join(lower, "d"), upper, work, merged} {
		if os.Mkdir(d, 0o755) != nil {
			return false
		}
	}
	for _, f := range []string{filepath.Join(lower, "f"), filepath.Join(lower, "d", "x")} {
		if os.WriteFile(f, []byte("x"), 0o644) != nil {
			return false
		}
	}
	if mountOverlay([]string{lower}, upper, work, merged, false) != nil {
		return false
	}
	mounted := true
	defer func() {
		if mounted {
			Unmount(merged)
		}
	}()
	if os.Remove(filepath.Join(merged, "f")) != nil ||
		os.RemoveAll(filepath.Join(merged, "d")) != nil ||
		os.Mkdir(filepath.Join(merged, "d"), 0o755) != nil {
		return false
	}
	if Unmount(merged) != nil {
		return false
	}
	mounted = false
	st, err := lstat(filepath.Join(upper, "f"))
	if err != nil || !isWhiteout(&st) {
		return false
	}
	opaque, err := isOpaque(filepath.Join(upper, "d"))
	return err == nil && opaque
}
