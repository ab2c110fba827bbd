package builder

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestCopyTreeIntoWhatItMade: copyTree leaves out the lookup of entries in directories it created
// itself; two directory sources of one COPY that create the same directories must still merge (the
// second overwrites the first's files, keeps the rest), into a destination that already had some.
func TestCopyTreeIntoWhatItMade(t *testing.T) {
	prereq.Require(t, prereq.Root) // chown to the sources' owner
	src, root := t.TempDir(), t.TempDir()
	files := map[string]string{
		"a/new/sub/x": "a-x", "a/new/sub/y": "a-y", "a/new/only-a": "a", "a/old/f": "a-f",
		"b/new/sub/x": "b-x", "b/new/sub/deeper/z": "b-z", "b/old/f": "b-f", "b/old/g": "b-g",
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(root, "dst")
	if err := os.MkdirAll(filepath.Join(dst, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "old", "g"), []byte("image-g"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &copier{root: root, uid: -1, gid: -1, links: map[uint64]string{}}
	for _, item := range []string{"a", "b"} {
		host := filepath.Join(src, item)
		fi, err := os.Lstat(host)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.copyTree(copyItem{host: host, rel: item, real: item, info: fi}, dst); err != nil {
			t.Fatalf("copying %s: %v", item, err)
		}
	}
	want := map[string]string{
		"new/sub/x": "b-x", "new/sub/y": "a-y", "new/only-a": "a", "new/sub/deeper/z": "b-z",
		"old/f": "b-f", "old/g": "b-g",
	}
	got := map[string]string{}
	err := filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dst, p)
		got[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestLayerReusePlainDir: a directory of the earlier result counts as one to link into only when no
// component of its path is a symlink (or missing, or not a directory).
func TestLayerReusePlainDir(t *testing.T) {
	prev := t.TempDir()
	for _, d := range []string{"a/b/c", "real"} {
		if err := os.MkdirAll(filepath.Join(prev, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("real", filepath.Join(prev, "a/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a", filepath.Join(prev, "toa")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prev, "a/file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := newLayerReuse(prev, "/unused", "/unused", nil, nil)
	for dir, want := range map[string]bool{
		".": true, "a": true, "a/b": true, "a/b/c": true, "a/b/c/": true, "real": true,
		"a/link": false, "toa": false, "toa/b": false, "a/file": false, "missing": false, "a/missing/x": false,
		"..": false, "../x": false, "a/../..": false,
	} {
		for range 2 { // the second answer comes from the memo
			if got := r.plainDir(dir); got != want {
				t.Errorf("plainDir(%q) = %v, want %v", dir, got, want)
			}
		}
	}
}
