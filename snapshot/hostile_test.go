//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// hostileCase builds a tar that tries to reach outside the extraction root.
// outside is an absolute directory next to the root holding "secret";
// rootDepth is how many ".." reach the sandbox top from the root.
type hostileCase struct {
	name        string
	tar         func(t testing.TB, outside string) []byte
	wantErr     error // nil: may succeed, must stay inside
	applyTarErr error // for ApplyTar, when it differs
}

func hostileCases(absEscape string) []hostileCase {
	return []hostileCase{
		{name: "dotdot entries", tar: func(t testing.TB, outside string) []byte {
			return makeTar(t,
				file("../escape1", "pwned"), file("../../escape2", "pwned"),
				file("a/../../../escape3", "pwned"), dir("../../outside/"),
				file("../../outside/secret", "pwned"), file("./../../../outside/secret", "pwned"))
		}},
		{name: "absolute paths", tar: func(t testing.TB, outside string) []byte {
			return makeTar(t,
				file(absEscape, "pwned"), file(filepath.Join(outside, "secret"), "pwned"),
				dir(outside+"/"), file(outside+"/new", "pwned"))
		}},
		{name: "symlink then file through it", tar: func(t testing.TB, outside string) []byte {
			return makeTar(t,
				symlink("abs", outside), file("abs/secret", "pwned"), file("abs/new", "pwned"),
				symlink("rel", "../../../../../../../.."+outside), file("rel/secret", "pwned"),
				symlink("dotdot", ".."), file("dotdot/escape4", "pwned"),
				symlink("f", filepath.Join(outside, "secret")), file("f", "pwned"))
		}},
		{name: "symlink chain", tar: func(t testing.TB, outside string) []byte {
			return makeTar(t,
				dir("d/"), symlink("d/up", ".."), symlink("l1", "d/up/d/up/d/up/.."),
				file("l1/escape5", "pwned"), dir("l1/sub/"), file("l1/sub/escape6", "pwned"))
		}},
		{name: "hardlink to outside", tar: func(t testing.TB, outside string) []byte {
			return makeTar(t,
				hardlink("hl1", filepath.Join(outside, "secret")),
				hardlink("hl2", "../../outside/secret"),
				hardlink("hl3", "../../../../../../.."+filepath.Join(outside, "secret")),
				file("hl1", "pwned"), file("hl2", "pwned"))
		}},
		{name: "hardlink through symlink", tar: func(t testing.TB, outside string) []byte {
			return makeTar(t,
				symlink("s", outside), hardlink("hl", "s/secret"), file("hl", "pwned"))
		}},
		{name: "whiteout of dotdot", wantErr: ErrHostileEntry, tar: func(t testing.TB, outside string) []byte {
			return makeTar(t, marker(".wh..."))
		}},
		{name: "nested whiteout of dotdot", wantErr: ErrHostileEntry, tar: func(t testing.TB, outside string) []byte {
			return makeTar(t, dir("a/"), dir("a/b/"), marker("a/b/.wh..."))
		}},
		{name: "whiteout of dot", wantErr: ErrHostileEntry, tar: func(t testing.TB, outside string) []byte {
			return makeTar(t, dir("a/"), marker("a/.wh.."))
		}},
		{name: "whiteout through symlink", applyTarErr: ErrHostileEntry, tar: func(t testing.TB, outside string) []byte {
			return makeTar(t, symlink("s", outside), marker("s/.wh.secret"),
				symlink("u", ".."), marker("u/.wh.outside"), marker("../.wh.outside"))
		}},
	}
}

// sandbox lays out <base>/outside/secret and <base>/x/y/root and returns a
// listing of everything in base except the root subtree.
func sandbox(t *testing.T) (base, outside, root string) {
	t.Helper()
	base = t.TempDir()
	outside = filepath.Join(base, "outside")
	root = filepath.Join(base, "x", "y", "root")
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.MkdirAll(root, 0o755))
	mustWrite(t, filepath.Join(outside, "secret"), "s3cret", 0o600)
	return base, outside, root
}

func outsideListing(t *testing.T, base, root string) []string {
	rel, err := filepath.Rel(base, root)
	must(t, err)
	var out []string
	for _, l := range treeListing(t, base, true) {
		name, _, _ := strings.Cut(l, " ")
		if name == rel || strings.HasPrefix(name, rel+"/") {
			continue
		}
		// Parents of root change mtime when root's content changes, which
		// only matters if the entry set changes.
		if strings.HasPrefix(rel, name+"/") {
			l = name
		}
		out = append(out, l)
	}
	return out
}

func absEscapePath(t *testing.T) string {
	var b [6]byte
	rand.Read(b[:])
	p := "/hoist-hostile-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { os.RemoveAll(p) })
	return p
}

func checkContained(t *testing.T, base, root string, before []string, absEscape string, err, wantErr error) {
	t.Helper()
	if wantErr != nil && !errors.Is(err, wantErr) {
		t.Errorf("err = %v, want %v", err, wantErr)
	}
	if after := outsideListing(t, base, root); !slices.Equal(before, after) {
		t.Errorf("files outside the root changed:\n%s", lineDiff(before, after))
	}
	if _, err := os.Lstat(absEscape); err == nil {
		t.Errorf("%s was created on the host", absEscape)
	}
	got, rerr := os.ReadFile(filepath.Join(base, "outside", "secret"))
	if rerr != nil || string(got) != "s3cret" {
		t.Errorf("outside/secret = %q, %v", got, rerr)
	}
}

// TestSandboxDetectsEscape guards the hostile tests against passing
// vacuously: an escape must show up in checkContained's view.
func TestSandboxDetectsEscape(t *testing.T) {
	base, outside, root := sandbox(t)
	before := outsideListing(t, base, root)
	mustWrite(t, filepath.Join(base, "x", "escape"), "pwned", 0o644)
	mustWrite(t, filepath.Join(outside, "secret"), "pwned", 0o600)
	mustWrite(t, filepath.Join(root, "inside"), "fine", 0o644)
	after := outsideListing(t, base, root)
	if slices.Equal(before, after) || len(after) != len(before)+1 {
		t.Errorf("escape not detected:\nbefore %v\nafter %v", before, after)
	}
}

func TestEnsureHostileLayers(t *testing.T) {
	requireRoot(t)
	absEscape := absEscapePath(t)
	for _, tc := range hostileCases(absEscape) {
		t.Run(tc.name, func(t *testing.T) {
			base, outside, root := sandbox(t)
			before := outsideListing(t, base, root)
			s, err := New(root)
			must(t, err)
			l := newLayer(tc.tar(t, outside))
			_, err = s.Ensure(context.Background(), []v1.Layer{l})
			t.Logf("Ensure: %v", err)
			checkContained(t, base, root, before, absEscape, err, tc.wantErr)
			if err != nil && s.Has(l.diffID) {
				t.Error("failed layer kept")
			}
		})
	}
}

func TestApplyTarHostile(t *testing.T) {
	requireRoot(t)
	absEscape := absEscapePath(t)
	for _, tc := range hostileCases(absEscape) {
		t.Run(tc.name, func(t *testing.T) {
			base, outside, root := sandbox(t)
			before := outsideListing(t, base, root)
			want := tc.wantErr
			if tc.applyTarErr != nil {
				want = tc.applyTarErr
			}
			err := ApplyTar(context.Background(), bytes.NewReader(tc.tar(t, outside)), root)
			t.Logf("ApplyTar: %v", err)
			checkContained(t, base, root, before, absEscape, err, want)
		})
	}
}

func TestApplyTar(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	// An existing tree with an absolute symlink, as a rootfs has.
	must(t, os.MkdirAll(filepath.Join(dst, "usr", "lib"), 0o755))
	must(t, os.Symlink("/usr/lib", filepath.Join(dst, "lib")))
	mustWrite(t, filepath.Join(dst, "keep"), "keep", 0o644)
	data := makeTar(t,
		dir("opt/"), file("opt/a", "a"),
		tent{name: "opt/suid", typ: tar.TypeReg, mode: 0o4755, uid: 7, gid: 8, body: "s"},
		file("lib/libx.so", "lib"), // through the absolute symlink: lands in dst/usr/lib
		hardlink("opt/b", "opt/a"),
		tent{name: "pax_global_header", typ: tar.TypeXGlobalHeader},
	)
	must(t, ApplyTar(context.Background(), bytes.NewReader(data), dst))
	got := treeListing(t, dst, false)
	want := []string{
		"keep type=10 mode=0644 uid=0 gid=0 size=4 sha=6ca7ea2f nlink=1",
		"lib type=12 mode=0777 uid=0 gid=0 link=/usr/lib",
		"opt type=4 mode=0755 uid=0 gid=0",
		"opt/a type=10 mode=0644 uid=0 gid=0 size=1 sha=ca978112 nlink=2",
		"opt/b type=10 mode=0644 uid=0 gid=0 size=1 sha=ca978112 nlink=2",
		"opt/suid type=10 mode=4755 uid=7 gid=8 size=1 sha=043a7187 nlink=1",
		"usr type=4 mode=0755 uid=0 gid=0",
		"usr/lib type=4 mode=0755 uid=0 gid=0",
		"usr/lib/libx.so type=10 mode=0644 uid=0 gid=0 size=3 sha=76b5a357 nlink=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("tree mismatch:\n%s", lineDiff(want, got))
	}
}
