//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func sceneLayers(t *testing.T) []v1.Layer {
	exe := func(name, body string) tent { return tent{name: name, typ: tar.TypeReg, mode: 0o755, body: body} }
	base := makeTar(t,
		dir("bin/"), symlink("bin/sh", "tool"), exe("bin/tool", "#!tool\n"),
		dir("d/"), file("d/a", "a"), file("d/b", "b"), dir("d/sub/"), file("d/sub/c", "c"),
		dir("dev/"), tent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		dir("etc/"), file("etc/gone", "gone"), file("etc/hosts", "hosts"), file("etc/passwd", "root"),
		dir("gone-dir/"), file("gone-dir/f", "f"),
		dir("opq/"), file("opq/old", "old"),
		dir("usr/"), dir("usr/bin/"), file("usr/bin/link-src", "link"), exe("usr/bin/prog", "prog"),
		dir("x/"), file("x/y", "y"),
		file("z", "z"),
	)
	top := makeTar(t,
		dir("etc/"), marker("etc/.wh.hosts"), file("etc/added1", "added1"),
		dir("opq/"), marker("opq/.wh..wh..opq"), file("opq/x", "x"),
	)
	return []v1.Layer{newLayer(base), newLayer(top)}
}

// capNetRaw is a VFS_CAP_REVISION_2 security.capability value granting
// cap_net_raw (bit 13) permitted+effective.
func capNetRaw() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000001)
	binary.LittleEndian.PutUint32(b[4:], 1<<13)
	return string(b)
}

// applyChanges is the "build step": the same edits on an overlay merged dir
// or on a flattened copy.
func applyChanges(t *testing.T, root string) {
	t.Helper()
	p := func(rel string) string { return filepath.Join(root, rel) }
	write := func(rel, body string, mode uint32) {
		mustWrite(t, p(rel), body, 0o600)
		must(t, unix.Chmod(p(rel), mode))
	}
	write("new.txt", "new", 0o644)
	must(t, unix.Lsetxattr(p("new.txt"), "user.mime", []byte("text/plain"), 0))
	write("etc/newfile", "nf", 0o644)
	must(t, os.Remove(p("etc/gone")))
	must(t, os.Remove(p("etc/added1")))
	must(t, os.RemoveAll(p("d")))
	must(t, os.Mkdir(p("d"), 0o755))
	must(t, os.Chmod(p("d"), 0o755))
	write("d/new", "dnew", 0o644)
	must(t, os.Chmod(p("usr/bin/prog"), 0o700))
	must(t, os.Link(p("usr/bin/link-src"), p("usr/bin/link-dst")))
	write("usr/bin/su", "su", 0o4755)
	write("usr/bin/ping", "ping", 0o755)
	must(t, unix.Lsetxattr(p("usr/bin/ping"), "security.capability", []byte(capNetRaw()), 0))
	must(t, os.RemoveAll(p("x")))
	write("x", "now a file", 0o644)
	must(t, os.Remove(p("z")))
	must(t, os.Mkdir(p("z"), 0o755))
	must(t, os.Chmod(p("z"), 0o755))
	write("z/in", "in", 0o644)
	must(t, os.Symlink("/etc/passwd", p("etc/pw-link")))
	must(t, unix.Mkfifo(p("fifo"), 0o644))
	must(t, unix.Chmod(p("fifo"), 0o644))
	must(t, unix.Mknod(p("newdev"), unix.S_IFCHR|0o600, int(unix.Mkdev(1, 5))))
	must(t, os.RemoveAll(p("gone-dir")))
	must(t, os.Lchown(p("bin/sh"), 1, 1))
}

func TestWriteDiffOverlayAndFallback(t *testing.T) {
	requireOverlay(t)
	ctx := context.Background()
	s, err := New(t.TempDir())
	must(t, err)
	lowers, err := s.Ensure(ctx, sceneLayers(t))
	must(t, err)
	opts := DiffOptions{SourceDateEpoch: &epoch}

	// The overlay path.
	upper, work, merged := upperWork(t)
	must(t, s.MountOverlay(lowers, upper, work, merged))
	mergedBefore := treeListing(t, merged, true)
	applyChanges(t, merged)
	mergedAfter := treeListing(t, merged, false)
	must(t, Unmount(merged))
	var overlayTar bytes.Buffer
	overlayOpts := opts
	overlayOpts.Lowers = lowers
	must(t, WriteDiff(ctx, upper, &overlayTar, overlayOpts))
	overlayEntries := tarEntries(t, overlayTar.Bytes())
	checkGolden(t, "scene_diff.golden", overlayEntries)

	// The copy fallback: Flatten must show what the overlay showed, and the
	// compare-based diff of the same change must list the same entries.
	rootfs := filepath.Join(t.TempDir(), "rootfs")
	must(t, os.Mkdir(rootfs, 0o755))
	must(t, Flatten(ctx, lowers, rootfs))
	if got := treeListing(t, rootfs, true); !slices.Equal(got, mergedBefore) {
		t.Errorf("Flatten differs from the overlay view:\n%s", lineDiff(mergedBefore, got))
	}
	applyChanges(t, rootfs)
	var compareTar bytes.Buffer
	must(t, WriteDiffCompare(ctx, lowers, rootfs, &compareTar, opts))
	if got := tarEntries(t, compareTar.Bytes()); !slices.Equal(got, overlayEntries) {
		t.Errorf("WriteDiffCompare entries differ from WriteDiff:\n%s", lineDiff(overlayEntries, got))
	}

	// Both layers, applied on the lowers, give the tree the build step saw, but for one thing: as in
	// BuildKit's layers, the unchanged lower file a new hard link was made to is not in the layer, so
	// the new name is a copy and both have one link.
	want := slices.Clone(mergedAfter)
	for i, l := range want {
		if strings.HasPrefix(l, "usr/bin/link-") {
			want[i] = strings.Replace(l, "nlink=2", "nlink=1", 1)
		}
	}
	for name, data := range map[string][]byte{"overlay": overlayTar.Bytes(), "compare": compareTar.Bytes()} {
		chain, err := s.Ensure(ctx, append(sceneLayers(t), newLayer(data)))
		must(t, err)
		out := filepath.Join(t.TempDir(), "out")
		must(t, os.Mkdir(out, 0o755))
		must(t, Flatten(ctx, chain, out))
		if got := treeListing(t, out, false); !slices.Equal(got, want) {
			t.Errorf("%s layer applied on lowers differs from the changed rootfs:\n%s", name, lineDiff(want, got))
		}
	}
	if got := treeListing(t, rootfs, false); !slices.Equal(got, mergedAfter) {
		t.Errorf("changed flattened rootfs differs from changed overlay:\n%s", lineDiff(mergedAfter, got))
	}
}

func TestWriteDiffOptions(t *testing.T) {
	requireOverlay(t)
	ctx := context.Background()
	s, err := New(t.TempDir())
	must(t, err)
	lowers, err := s.Ensure(ctx, sceneLayers(t))
	must(t, err)
	upper, work, merged := upperWork(t)
	must(t, s.MountOverlay(lowers, upper, work, merged))
	applyChanges(t, merged)
	must(t, Unmount(merged))
	rootfs := t.TempDir()
	must(t, Flatten(ctx, lowers, rootfs))
	applyChanges(t, rootfs)

	excl := func(rel string) bool { return rel == "usr/bin" || rel == "gone-dir" || rel == "new.txt" }
	diffs := map[string]func(opts DiffOptions) []string{
		"WriteDiff": func(opts DiffOptions) []string {
			var b bytes.Buffer
			must(t, WriteDiff(ctx, upper, &b, opts))
			return tarEntries(t, b.Bytes())
		},
		"WriteDiffCompare": func(opts DiffOptions) []string {
			var b bytes.Buffer
			must(t, WriteDiffCompare(ctx, lowers, rootfs, &b, opts))
			return tarEntries(t, b.Bytes())
		},
	}
	for name, diff := range diffs {
		t.Run(name, func(t *testing.T) {
			all := diff(DiffOptions{})
			var sawNow bool
			for _, l := range all {
				var mt int64
				for _, f := range strings.Fields(l) {
					if v, ok := strings.CutPrefix(f, "mtime="); ok {
						fmt.Sscan(v, &mt)
					}
				}
				sawNow = sawNow || mt > epoch.Unix()
			}
			if !sawNow {
				t.Error("without SourceDateEpoch no entry kept its recent mtime")
			}
			excluded := diff(DiffOptions{Exclude: excl, SourceDateEpoch: &epoch})
			want := slices.DeleteFunc(diff(DiffOptions{SourceDateEpoch: &epoch}), func(l string) bool {
				n := strings.Fields(l)[1]
				// Only the overlay upper holds usr/ (copied up); the
				// compare diff has no change left below it.
				return strings.HasPrefix(n, "usr/bin/") || n == ".wh.gone-dir" || n == "new.txt" ||
					(n == "usr/" && name == "WriteDiffCompare")
			})
			if !slices.Equal(excluded, want) {
				t.Errorf("Exclude result:\n%s", lineDiff(want, excluded))
			}
		})
	}
}

// TestUnpackDiffRoundTrip: a layer in canonical form, unpacked by Ensure
// and diffed back with WriteDiff, gives the same tar entries and content.
func TestUnpackDiffRoundTrip(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	layer := makeTar(t,
		dir("a"), tent{name: "a/caps", typ: tar.TypeReg, mode: 0o755, body: "bin",
			xattrs: map[string]string{"security.capability": capNetRaw(), "user.k": "v"}},
		marker("a/.wh.deleted"),
		tent{name: "a/fifo", typ: tar.TypeFifo, mode: 0o600},
		file("a/first", "shared"), hardlink("a/second", "a/first"),
		tent{name: "a/setgid-dir", typ: tar.TypeDir, mode: 0o2775, uid: 10, gid: 20},
		tent{name: "a/suid", typ: tar.TypeReg, mode: 0o4711, uid: 1, gid: 2, body: "x"},
		dir("b"), marker("b/.wh..wh..opq"), file("b/kept", "k"),
		tent{name: "dev", typ: tar.TypeDir, mode: 0o1777},
		tent{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, gid: 6, major: 8, minor: 0},
		symlink("link", "a/first"),
	)
	// makeTar names directories without the trailing slash WriteDiff adds.
	want := tarEntries(t, layer)
	for i, l := range want {
		if strings.HasPrefix(l, "dir ") {
			f := strings.Fields(l)
			want[i] = strings.Replace(l, " "+f[1]+" ", " "+f[1]+"/ ", 1)
		}
	}
	s, err := New(t.TempDir())
	must(t, err)
	dirs, err := s.Ensure(ctx, []v1.Layer{newLayer(layer)})
	must(t, err)
	var out bytes.Buffer
	must(t, WriteDiff(ctx, dirs[0], &out, DiffOptions{}))
	if got := tarEntries(t, out.Bytes()); !slices.Equal(got, want) {
		t.Errorf("round trip mismatch:\n%s", lineDiff(want, got))
	}
}

func TestWriteDiffRefusesForeignUpper(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name  string
		setup func(dir string) error
		want  error
	}{
		{"redirect", func(d string) error {
			must(t, os.Mkdir(filepath.Join(d, "moved"), 0o755))
			return unix.Lsetxattr(filepath.Join(d, "moved"), xattrRedirect, []byte("/orig"), 0)
		}, ErrUnsupportedOverlay},
		{"metacopy", func(d string) error {
			mustWrite(t, filepath.Join(d, "f"), "", 0o644)
			return unix.Lsetxattr(filepath.Join(d, "f"), xattrMetacopy, nil, 0)
		}, ErrUnsupportedOverlay},
		{"whiteout-named file", func(d string) error {
			return os.WriteFile(filepath.Join(d, ".wh.sneaky"), nil, 0o644)
		}, ErrHostileEntry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			must(t, tc.setup(d))
			err := WriteDiff(context.Background(), d, &bytes.Buffer{}, DiffOptions{})
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
