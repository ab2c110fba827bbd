package builder

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestLayerReuseFinishFallsBack: a claimed snapshot file that is gone by the time the links are made
// (a concurrent prune) is copied from its source instead, with the owner, mode and mtime the copy
// would have given it; a present one is linked; the directory keeps its mtime.
func TestLayerReuseFinishFallsBack(t *testing.T) {
	prereq.Require(t, prereq.Root) // chown
	prev, upper, src := t.TempDir(), t.TempDir(), t.TempDir()
	mtime := time.Unix(1600000000, 5)
	host := filepath.Join(src, "a")
	if err := os.WriteFile(host, []byte("source bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prev, "b"), []byte("snapshot bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	dirTime := time.Unix(1500000000, 0)
	if err := os.Chtimes(upper, dirTime, dirTime); err != nil {
		t.Fatal(err)
	}
	r := newLayerReuse(prev, upper, "/unused", nil, nil)
	r.files = []reusedFile{
		{old: filepath.Join(prev, "gone"), new: filepath.Join(upper, "a"), host: host, uid: 7, gid: 8, mode: 0o600, mtime: mtime},
		{old: filepath.Join(prev, "b"), new: filepath.Join(upper, "b"), host: "/nonexistent"},
	}
	if err := r.finish(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(upper, "a"))
	if err != nil || string(got) != "source bytes" {
		t.Fatalf("fallback copy: %q, %v", got, err)
	}
	fi, err := os.Stat(filepath.Join(upper, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(mtime) {
		t.Errorf("fallback copy has mode %v mtime %v, want 0600 %v", fi.Mode().Perm(), fi.ModTime(), mtime)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 7 || st.Gid != 8 {
		t.Errorf("fallback copy owned by %d:%d, want 7:8", st.Uid, st.Gid)
	}
	if b, err := os.ReadFile(filepath.Join(upper, "b")); err != nil || string(b) != "snapshot bytes" {
		t.Errorf("linked file: %q, %v", b, err)
	}
	if fi, err := os.Stat(upper); err != nil || !fi.ModTime().Equal(dirTime) {
		t.Errorf("directory mtime %v, want %v (err %v)", fi.ModTime(), dirTime, err)
	}
}
