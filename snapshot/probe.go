//go:build linux

package snapshot

import (
	"errors"
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
	return probeMount(dir, func(lowers []string, upper, work, merged string) error {
		return mountOverlay(lowers, upper, work, merged, false)
	}) == nil
}

// probeMount mounts an overlay in dir with mount, deletes a lower file and recreates a lower
// directory through it, and checks that the upper dir (normalized, for fuse-overlayfs) holds a
// whiteout and an opaque directory in the kernel overlay's format.
func probeMount(dir string, mount func(lowersTop []string, upper, work, merged string) error) error {
	lower := filepath.Join(dir, "lower")
	upper := filepath.Join(dir, "upper")
	work := filepath.Join(dir, "work")
	merged := filepath.Join(dir, "merged")
	for _, d := range []string{lower, filepath.Join(lower, "d"), upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	for _, f := range []string{filepath.Join(lower, "f"), filepath.Join(lower, "d", "x")} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			return err
		}
	}
	if err := mount([]string{lower}, upper, work, merged); err != nil {
		return err
	}
	mounted := true
	defer func() {
		if mounted {
			Unmount(merged)
		}
	}()
	if err := os.Remove(filepath.Join(merged, "f")); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(merged, "d")); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(merged, "d"), 0o755); err != nil {
		return err
	}
	if err := Unmount(merged); err != nil {
		return err
	}
	mounted = false
	if err := normalizeFuseUpper(upper); err != nil {
		return err
	}
	st, err := lstat(filepath.Join(upper, "f"))
	if err != nil || !isWhiteout(&st) {
		return errors.New("no whiteout in the upper dir after deleting a lower file")
	}
	if opaque, err := isOpaque(filepath.Join(upper, "d")); err != nil || !opaque {
		return errors.New("no opaque directory in the upper dir after recreating a lower directory")
	}
	return nil
}
