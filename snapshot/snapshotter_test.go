//go:build linux

package snapshot

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// baseTar and topTar are a two-layer chain used by several tests: the top
// layer deletes a file, adds one, and makes a directory opaque.
func baseTar(t testing.TB) []byte {
	return makeTar(t,
		dir("etc/"), file("etc/passwd", "root:x:0:0\n"), file("etc/hosts", "127.0.0.1\n"),
		dir("opq/"), file("opq/old", "old\n"),
		dir("bin/"), tent{name: "bin/tool", typ: tar.TypeReg, mode: 0o755, body: "#!tool\n"},
		symlink("bin/sh", "tool"),
	)
}

func topTar(t testing.TB) []byte {
	return makeTar(t,
		dir("etc/"), marker("etc/.wh.hosts"), file("etc/added", "new\n"),
		dir("opq/"), marker("opq/.wh..wh..opq"), file("opq/x", "x\n"),
	)
}

func TestEnsure(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	s, err := New(filepath.Join(t.TempDir(), "snapshots"))
	must(t, err)
	layers := []v1.Layer{newLayer(baseTar(t)), newLayer(topTar(t))}
	dirs, err := s.Ensure(ctx, layers)
	must(t, err)
	d0, _ := layers[0].DiffID()
	d1, _ := layers[1].DiffID()
	chain := ChainIDs([]v1.Hash{d0, d1})
	for i, c := range chain {
		want, err := s.FSPath(c)
		must(t, err)
		if dirs[i] != want || !s.Has(c) {
			t.Errorf("dirs[%d] = %s (has %v), want %s", i, dirs[i], s.Has(c), want)
		}
	}
	checkFile := func(path, want string) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", path, got, err, want)
		}
	}
	checkFile(filepath.Join(dirs[0], "etc/passwd"), "root:x:0:0\n")
	checkFile(filepath.Join(filepath.Dir(dirs[0]), "diffid"), d0.String())
	checkFile(filepath.Join(filepath.Dir(dirs[0]), "parent"), "")
	checkFile(filepath.Join(filepath.Dir(dirs[1]), "diffid"), d1.String())
	checkFile(filepath.Join(filepath.Dir(dirs[1]), "parent"), chain[0].String())
	st, err := lstat(filepath.Join(dirs[1], "etc/hosts"))
	if err != nil || !isWhiteout(&st) {
		t.Errorf("etc/hosts in top layer is not a whiteout: %v", err)
	}
	if op, err := isOpaque(filepath.Join(dirs[1], "opq")); err != nil || !op {
		t.Errorf("opq in top layer is not opaque: %v %v", op, err)
	}

	// Present layers are not read again.
	again, err := s.Ensure(ctx, []v1.Layer{unreadable{layers[0]}, unreadable{layers[1]}})
	must(t, err)
	if strings.Join(again, ",") != strings.Join(dirs, ",") {
		t.Errorf("second Ensure = %v, want %v", again, dirs)
	}
	assertNoTemps(t, s)

	// Losing the rename race (the snapshot appeared while we unpacked) is
	// success, and the loser's copy is discarded.
	must(t, s.unpack(ctx, layers[0], chain[0], d0, v1.Hash{}))
	assertNoTemps(t, s)
	checkFile(filepath.Join(dirs[0], "etc/passwd"), "root:x:0:0\n")

	must(t, s.Remove(ctx, chain[1]))
	if s.Has(chain[1]) || !s.Has(chain[0]) {
		t.Errorf("after Remove: has top %v, has base %v", s.Has(chain[1]), s.Has(chain[0]))
	}
	must(t, s.Remove(ctx, chain[1])) // idempotent
	assertNoTemps(t, s)
	if err := s.Remove(ctx, v1.Hash{Algorithm: "sha256", Hex: "../../etc"}); !errors.Is(err, ErrInvalidChainID) {
		t.Errorf("Remove(bad id) = %v, want ErrInvalidChainID", err)
	}
}

// unreadable fails if its content is requested.
type unreadable struct{ v1.Layer }

func (unreadable) Uncompressed() (io.ReadCloser, error) { return nil, errors.New("must not be read") }

func assertNoTemps(t *testing.T, s *Snapshotter) {
	t.Helper()
	names, err := readDirNames(s.tmpDir())
	must(t, err)
	if len(names) != 0 {
		t.Errorf("temp entries left behind: %v", names)
	}
}

func TestEnsureCorruptLayer(t *testing.T) {
	requireRoot(t)
	good := baseTar(t)
	flipped := append([]byte(nil), good...)
	flipped[1024] ^= 0xff // first byte of etc/passwd content
	tests := []struct {
		name  string
		layer *memLayer
	}{
		{"wrong diffid", func() *memLayer { l := newLayer(good); l.diffID = newLayer(topTar(t)).diffID; return l }()},
		{"flipped byte", func() *memLayer { l := newLayer(good); l.data = flipped; return l }()},
		{"trailing garbage", func() *memLayer {
			l := newLayer(good)
			l.data = append(append([]byte(nil), good...), "junk"...)
			return l
		}()},
		{"truncated", func() *memLayer { l := newLayer(good); l.data = good[:len(good)-1024]; return l }()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(t.TempDir())
			must(t, err)
			_, err = s.Ensure(context.Background(), []v1.Layer{tc.layer})
			if err == nil {
				t.Fatal("Ensure succeeded on a corrupt layer")
			}
			if tc.name != "truncated" && !errors.Is(err, ErrDiffIDMismatch) {
				t.Errorf("err = %v, want ErrDiffIDMismatch", err)
			}
			if s.Has(tc.layer.diffID) {
				t.Error("corrupt layer was kept")
			}
			assertNoTemps(t, s)
		})
	}
}

func TestEnsureConcurrentGoroutines(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	layers := []v1.Layer{newLayer(baseTar(t)), newLayer(topTar(t))}
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(root) // a separate instance, like another process
			if err == nil {
				_, err = s.Ensure(context.Background(), layers)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Ensure #%d: %v", i, err)
		}
	}
	s, err := New(root)
	must(t, err)
	assertNoTemps(t, s)
}

const helperEnv = "HOIST_SNAPSHOT_TEST_HELPER"

// TestHelperProcess is not a test: it is the body of subprocesses started
// by other tests (selected through helperEnv).
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	root := os.Getenv(helperEnv + "_ROOT")
	switch mode {
	case "ensure":
		s, err := New(root)
		if err == nil {
			_, err = s.Ensure(context.Background(), []v1.Layer{newLayer(baseTar(t)), newLayer(topTar(t))})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "hold":
		tmp, err := newTemp(filepath.Join(root, "tmp"), "held-")
		if err != nil {
			os.Exit(1)
		}
		fmt.Println(tmp.dir)
		select {} // until killed
	}
}

func helperCmd(t *testing.T, mode, root string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperEnv+"_ROOT="+root)
	return cmd
}

func TestEnsureConcurrentProcesses(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	var cmds []*exec.Cmd
	outs := make([]strings.Builder, 3)
	for i := range outs {
		c := helperCmd(t, "ensure", root)
		c.Stderr = &outs[i]
		must(t, c.Start())
		cmds = append(cmds, c)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, outs[i].String())
		}
	}
	s, err := New(root)
	must(t, err)
	d, _ := newLayer(topTar(t)).DiffID()
	b, _ := newLayer(baseTar(t)).DiffID()
	if !s.Has(ChainIDs([]v1.Hash{b, d})[1]) {
		t.Error("chain not present after concurrent processes")
	}
	assertNoTemps(t, s)
}

func TestStaleTempCleanup(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	s, err := New(root)
	must(t, err)
	tmp := s.tmpDir()

	// A dead owner's entry: lock file nobody holds, plus its dir.
	must(t, os.MkdirAll(filepath.Join(tmp, "unpack-dead", "fs", "x"), 0o755))
	mustWrite(t, filepath.Join(tmp, "unpack-dead.lock"), "", 0o600)
	// An orphan dir without a lock file.
	must(t, os.MkdirAll(filepath.Join(tmp, "orphan"), 0o755))
	// A live owner in this process.
	live, err := newTemp(tmp, "live-")
	must(t, err)
	defer live.release()
	// A live owner in another process, then killed.
	cmd := helperCmd(t, "hold", root)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("helper: %v", err)
	}
	held := strings.TrimSpace(line)

	_, err = New(root)
	must(t, err)
	for _, p := range []string{"unpack-dead", "unpack-dead.lock", "orphan"} {
		if _, err := os.Lstat(filepath.Join(tmp, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stale %s not removed (%v)", p, err)
		}
	}
	for _, p := range []string{live.dir, held} {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("live temp %s removed: %v", p, err)
		}
	}

	must(t, cmd.Process.Signal(unix.SIGKILL))
	cmd.Wait()
	_, err = New(root)
	must(t, err)
	if _, err := os.Lstat(held); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("killed owner's temp %s not removed (%v)", held, err)
	}
	if _, err := os.Lstat(live.dir); err != nil {
		t.Errorf("live temp removed: %v", err)
	}
	must(t, live.release())
	assertNoTemps(t, s)
}

// TestSnapshotFromAnotherBootIsDiscarded: a snapshot marked with another boot ID (never flushed before
// a reboot) is not trusted: Has reports it absent and Ensure unpacks it again.
func TestSnapshotFromAnotherBootIsDiscarded(t *testing.T) {
	requireRoot(t)
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if len(s.boot) == 0 {
		t.Skip("no boot_id on this kernel")
	}
	l := newLayer(makeTar(t, file("f", "content")))
	dirs, err := s.Ensure(context.Background(), []v1.Layer{l})
	if err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Dir(dirs[0])
	if b, err := os.ReadFile(filepath.Join(snapDir, bootFile)); err != nil || string(b) != string(s.boot) {
		t.Fatalf("snapshot not marked with this boot: %q %v", b, err)
	}
	if err := os.WriteFile(filepath.Join(snapDir, bootFile), []byte("00000000-0000-0000-0000-000000000000"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _ := l.DiffID()
	if s.Has(ChainIDs([]v1.Hash{d})[0]) {
		t.Fatal("a snapshot from another boot is trusted")
	}
	if _, err := s.Ensure(context.Background(), []v1.Layer{l}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dirs[0], "f")); err != nil || string(data) != "content" {
		t.Errorf("not unpacked again: %q %v", data, err)
	}
}
