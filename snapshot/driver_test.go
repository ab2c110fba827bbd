//go:build linux

package snapshot

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestFuseOverlayfsDriver forces fuse-overlayfs and makes the scene's changes through it: the layer
// diffed from its (normalized) upper dir is the kernel overlay's, entry for entry (the golden the
// kernel's overlay path is checked against), and what the step saw is what the kernel showed.
func TestFuseOverlayfsDriver(t *testing.T) {
	requireOverlay(t)
	prereq.Require(t, prereq.FuseOverlayfs)
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root, WithDriver(DriverFuseOverlayfs))
	must(t, err)
	st, err := s.Driver()
	must(t, err)
	if st.Driver != DriverFuseOverlayfs || !st.Forced || st.Program == "" {
		t.Fatalf("Driver() = %+v, want forced fuse-overlayfs with its program", st)
	}
	lowers, err := s.Ensure(ctx, sceneLayers(t))
	must(t, err)

	// What the kernel's overlay shows and makes of the scene.
	k, err := New(filepath.Join(root, "kernel"))
	must(t, err)
	upper, work, merged := upperWork(t)
	must(t, k.MountOverlay(lowers, upper, work, merged))
	kernelBefore := treeListing(t, merged, true)
	applyChanges(t, merged)
	kernelAfter := treeListing(t, merged, false)
	must(t, Unmount(merged))

	upper, work, merged = upperWork(t)
	must(t, s.MountOverlay(lowers, upper, work, merged))
	if got := treeListing(t, merged, true); !slices.Equal(got, kernelBefore) {
		t.Errorf("fuse-overlayfs shows the lowers unlike the kernel's overlay:\n%s", lineDiff(kernelBefore, got))
	}
	applyChanges(t, merged)
	after := treeListing(t, merged, false)
	must(t, Unmount(merged))
	must(t, s.NormalizeUpper(upper, lowers))
	if !slices.Equal(after, kernelAfter) {
		t.Errorf("fuse-overlayfs after the changes differs from the kernel's overlay:\n%s", lineDiff(kernelAfter, after))
	}
	filepath.WalkDir(upper, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), whiteoutPrefix) {
			t.Errorf("normalized upper dir still holds %s", p)
		}
		if names, _ := listXattrs(p); err == nil {
			for _, n := range names {
				if strings.HasPrefix(n, fuseXattrPrefix) {
					t.Errorf("normalized upper dir: %s still has %s", p, n)
				}
			}
		}
		return nil
	})
	var tarball bytes.Buffer
	must(t, WriteDiff(ctx, upper, &tarball, DiffOptions{SourceDateEpoch: &epoch, Lowers: lowers}))
	checkGolden(t, "scene_diff.golden", tarEntries(t, tarball.Bytes()))
	assertNoTemps(t, s)
}

// TestDriverProbe: the probe picks the kernel's overlay where it works, and a forced driver that
// cannot work is an error naming the driver.
func TestDriverProbe(t *testing.T) {
	requireOverlay(t)
	s, err := New(t.TempDir())
	must(t, err)
	st, err := s.Driver()
	must(t, err)
	if st.Driver != DriverOverlay || st.Forced || st.UserXattr {
		t.Errorf("probed driver as root = %+v, want the kernel's overlay without userxattr", st)
	}
	assertNoTemps(t, s)
	c, err := New(t.TempDir(), WithDriver(DriverCopy))
	must(t, err)
	if st, err := c.Driver(); err != nil || st.Driver != DriverCopy {
		t.Errorf("forced copy = %+v, %v", st, err)
	}
	if _, err := ParseDriver("overlay2"); err == nil || !strings.Contains(err.Error(), `"overlay2"`) {
		t.Errorf("ParseDriver(overlay2) = %v, want an error naming it", err)
	}
	// fuse-overlayfs without a program to run.
	t.Setenv("PATH", t.TempDir())
	f, err := New(t.TempDir(), WithDriver(DriverFuseOverlayfs))
	must(t, err)
	if _, err := f.Driver(); err == nil || !strings.Contains(err.Error(), "fuse-overlayfs") || !strings.Contains(err.Error(), "not installed") {
		t.Errorf("forced fuse-overlayfs without the program: %v", err)
	}
}
