//go:build linux

package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// makeLowers creates n lower dirs with long absolute paths; lower i holds
// f<i> and "common" containing i.
func makeLowers(t *testing.T, n int) []string {
	t.Helper()
	base := t.TempDir()
	lowers := make([]string, n)
	for i := range lowers {
		d := filepath.Join(base, fmt.Sprintf("%064x", i), "fs")
		must(t, os.MkdirAll(d, 0o755))
		mustWrite(t, filepath.Join(d, fmt.Sprintf("f%d", i)), "x", 0o644)
		mustWrite(t, filepath.Join(d, "common"), strconv.Itoa(i), 0o644)
		lowers[i] = d
	}
	return lowers
}

func upperWork(t *testing.T) (upper, work, target string) {
	base := t.TempDir()
	upper, work, target = filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{upper, work, target} {
		must(t, os.Mkdir(d, 0o755))
	}
	return upper, work, target
}

func TestMountOverlayManyLayers(t *testing.T) {
	requireOverlay(t)
	const n = 150
	lowers := makeLowers(t, n)
	top := make([]string, n)
	for i := range lowers {
		top[n-1-i] = lowers[i]
	}
	if l := len(legacyOptions(top, "/u", "/w", nil)); l < unix.Getpagesize() {
		t.Fatalf("test setup: plain option string is only %d bytes", l)
	}
	s, err := New(t.TempDir())
	must(t, err)
	tests := []struct {
		name  string
		mount func(upper, work, target string) error
	}{
		{"MountOverlay", func(u, w, m string) error { return s.MountOverlay(lowers, u, w, m) }},
		{"new mount API", func(u, w, m string) error { return mountOverlayNewAPI(top, u, w, m, false) }},
		{"legacy mount(2) via /proc/self/fd", func(u, w, m string) error {
			return mountOverlayLegacy(top, u, w, m, false, unix.Getpagesize())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			upper, work, target := upperWork(t)
			if err := tc.mount(upper, work, target); errors.Is(err, errNoNewAPI) {
				t.Skip("kernel lacks fsopen or lowerdir+ (< 6.8)")
			} else if err != nil {
				t.Fatalf("mount: %v", err)
			}
			defer Unmount(target)
			got, err := os.ReadFile(filepath.Join(target, "common"))
			if err != nil || string(got) != strconv.Itoa(n-1) {
				t.Errorf("common = %q, %v; want the top layer's %d", got, err, n-1)
			}
			names, err := readDirNames(target)
			must(t, err)
			if len(names) != n+1 {
				t.Errorf("merged has %d entries, want %d", len(names), n+1)
			}
			mustWrite(t, filepath.Join(target, "new"), "n", 0o644)
			must(t, Unmount(target))
			if _, err := os.Stat(filepath.Join(upper, "new")); err != nil {
				t.Errorf("write did not reach upper: %v", err)
			}
		})
	}
}

func TestMountLegacyTooLong(t *testing.T) {
	err := mountOverlayLegacy(makeLowers(t, 3), "", "", t.TempDir(), true, 32)
	if !errors.Is(err, ErrMountOptionsTooLong) {
		t.Errorf("err = %v, want ErrMountOptionsTooLong", err)
	}
}

func TestMountOverlayScratchAndReadOnly(t *testing.T) {
	requireOverlay(t)
	s, err := New(t.TempDir())
	must(t, err)
	lowers := makeLowers(t, 2)
	// A whiteout in the single lower must hide nothing-below but stay
	// invisible itself.
	must(t, unix.Mknod(filepath.Join(lowers[1], "gone"), unix.S_IFCHR|0o600, 0))

	t.Run("scratch with upper", func(t *testing.T) {
		upper, work, target := upperWork(t)
		must(t, s.MountOverlay(nil, upper, work, target))
		defer Unmount(target)
		names, _ := readDirNames(target)
		if len(names) != 0 {
			t.Errorf("scratch rootfs not empty: %v", names)
		}
		mustWrite(t, filepath.Join(target, "a"), "a", 0o644)
		must(t, Unmount(target))
		if _, err := os.Stat(filepath.Join(upper, "a")); err != nil {
			t.Error(err)
		}
		if names, _ := readDirNames(s.emptyDir()); len(names) != 0 {
			t.Errorf("empty dir was written to: %v", names)
		}
	})
	tests := []struct {
		name   string
		lowers []string
		want   []string
	}{
		{"no lowers", nil, nil},
		{"one lower", lowers[1:], []string{"common", "f1"}},
		{"two lowers", lowers, []string{"common", "f0", "f1"}},
	}
	for _, tc := range tests {
		t.Run("read-only "+tc.name, func(t *testing.T) {
			_, _, target := upperWork(t)
			must(t, s.MountOverlay(tc.lowers, "", "", target))
			defer Unmount(target)
			names, err := readDirNames(target)
			must(t, err)
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("entries = %v, want %v", names, tc.want)
			}
			err = os.WriteFile(filepath.Join(target, "x"), nil, 0o644)
			if !errors.Is(err, unix.EROFS) {
				t.Errorf("write = %v, want EROFS", err)
			}
		})
	}
	if err := s.MountOverlay(nil, "/u", "", t.TempDir()); err == nil {
		t.Error("upper without work accepted")
	}
	if err := Unmount(t.TempDir()); err == nil {
		t.Error("Unmount of a plain directory succeeded")
	}
}

// TestMountOptionsOff checks the effect of index=off, metacopy=off and
// redirect_dir=off rather than /proc/mounts (overlay hides options that
// equal the module defaults).
func TestMountOptionsOff(t *testing.T) {
	requireOverlay(t)
	s, err := New(t.TempDir())
	must(t, err)
	lower := t.TempDir()
	must(t, os.Mkdir(filepath.Join(lower, "dir"), 0o755))
	mustWrite(t, filepath.Join(lower, "dir", "f"), "data", 0o644)
	mustWrite(t, filepath.Join(lower, "big"), strings.Repeat("b", 100000), 0o644)
	upper, work, target := upperWork(t)
	must(t, s.MountOverlay([]string{lower}, upper, work, target))
	defer Unmount(target)

	must(t, os.Chown(filepath.Join(target, "big"), 5, 5))
	// The rename is the subject here (overlayfs refuses it with redirect_dir=off), not a durable move:
	// the raw syscall, not atomicfile.Rename.
	err = unix.Rename(filepath.Join(target, "dir"), filepath.Join(target, "dir2"))
	if !errors.Is(err, unix.EXDEV) {
		t.Errorf("renaming a lower dir = %v, want EXDEV (redirect_dir=off)", err)
	}
	must(t, os.Link(filepath.Join(target, "dir", "f"), filepath.Join(target, "f-link")))
	must(t, Unmount(target))

	x, err := readXattrs(filepath.Join(upper, "big"))
	must(t, err)
	if _, ok := x[xattrMetacopy]; ok {
		t.Error("chown made a metacopy-only upper file (metacopy=off ignored)")
	}
	if st, err := lstat(filepath.Join(upper, "big")); err != nil || st.Size != 100000 || st.Blocks == 0 {
		t.Errorf("upper/big not a full copy: %+v %v", st, err)
	}
	if names, _ := readDirNames(filepath.Join(work, "index")); len(names) != 0 {
		t.Errorf("work/index has entries (index=off ignored): %v", names)
	}
}
