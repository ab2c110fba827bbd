package builder

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

func TestCopyTreeAsRoot(t *testing.T) {
	prereq.Require(t, prereq.Root) // the source is given to other owners
	src := filepath.Join(t.TempDir(), "src")
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	for _, d := range []string{"src/sub", "src/sub/deep"} {
		if err := os.MkdirAll(filepath.Join(filepath.Dir(src), d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "sub", "f"), []byte("data"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub/f", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sub/f", "sub/deep", "sub", "."} {
		if err := os.Lchown(filepath.Join(src, p), 1234, 5678); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(filepath.Join(src, p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(src, "sub"), fs.ModeSetgid|0o750); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	if err := copyTreeAsRoot(context.Background(), src, dst); err != nil {
		t.Fatal(err)
	}
	want := map[string]fs.FileMode{".": fs.ModeDir | 0o755, "sub": fs.ModeDir | fs.ModeSetgid | 0o750, "sub/deep": fs.ModeDir | 0o755,
		"sub/f": 0o640, "link": fs.ModeSymlink | 0o777}
	for p, mode := range want {
		fi, err := os.Lstat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != mode || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: %v %d:%d, want %v 0:0", p, fi.Mode(), st.Uid, st.Gid, mode)
		}
		if mode&fs.ModeSymlink == 0 && !fi.ModTime().Equal(old) {
			t.Errorf("%s: mtime %v, want %v", p, fi.ModTime(), old)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dst, "link")); err != nil || string(b) != "data" {
		t.Errorf("through the link: %q %v", b, err)
	}
	if err := copyTreeAsRoot(context.Background(), filepath.Join(src, "sub", "f"), filepath.Join(t.TempDir(), "one")); err != nil {
		t.Errorf("a single file: %v", err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := copyTreeAsRoot(context.Background(), src, filepath.Join(t.TempDir(), "fifo-copy"))
	if err == nil || !strings.Contains(err.Error(), "fifo") {
		t.Errorf("a fifo in the tree: %v, want an error naming it", err)
	}
}
