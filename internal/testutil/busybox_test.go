package testutil

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hoistbuild/hoist/internal/fsdump"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

const hostBusybox = "/bin/busybox"

// TestWriteBusyboxRootfsMatchesRefenv checks that the tar is, as far as
// fsdump can tell, the refenv busybox:latest image. The golden is recorded
// from dockerd (docker save busybox:latest) with
// `go run ./hack/record-golden -base internal/testutil/testdata/busybox.rootfs.golden`,
// never from WriteBusyboxRootfs itself.
func TestWriteBusyboxRootfsMatchesRefenv(t *testing.T) {
	RequireGoldenBusybox(t)
	want, err := os.ReadFile(filepath.Join("testdata", "busybox.rootfs.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteBusyboxRootfs(&buf, hostBusybox); err != nil {
		t.Fatalf("WriteBusyboxRootfs: %v", err)
	}
	tree, err := fsdump.Flatten([]io.Reader{bytes.NewReader(buf.Bytes())})
	if err != nil {
		t.Fatalf("Flatten: %v", err)
	}
	got := tree.Dump()
	if !bytes.Equal(got, want) {
		t.Errorf("busybox rootfs differs from the refenv image (WriteBusyboxRootfs no longer follows setup.sh's recipe?)\n%s",
			lineDiff(string(got), string(want)))
	}
}

// TestWriteBusyboxRootfsDeterministic checks that two runs give identical
// bytes and that every entry is owned by root with mtime 0.
func TestWriteBusyboxRootfsDeterministic(t *testing.T) {
	prereq.Require(t, prereq.Busybox)
	var a, b bytes.Buffer
	if err := WriteBusyboxRootfs(&a, hostBusybox); err != nil {
		t.Fatal(err)
	}
	if err := WriteBusyboxRootfs(&b, hostBusybox); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two runs produced different tars")
	}
	tr := tar.NewReader(&a)
	n := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("%s: uid:gid %d:%d mtime %d, want 0:0 and 0", h.Name, h.Uid, h.Gid, h.ModTime.Unix())
		}
	}
	if n < 20 {
		t.Errorf("only %d entries", n)
	}
}

func TestWriteBusyboxRootfsErrors(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "busybox")
	if err := os.WriteFile(notExec, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]string{
		"missing":        filepath.Join(dir, "nope"),
		"not executable": notExec,
	} {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteBusyboxRootfs(&buf, p); err == nil {
				t.Fatal("want an error")
			}
			if buf.Len() != 0 {
				t.Errorf("wrote %d bytes on error", buf.Len())
			}
		})
	}
}

// lineDiff lists the lines only in got (+) or only in want (-).
func lineDiff(got, want string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	g, w := in(got), in(want)
	var b strings.Builder
	for _, l := range strings.Split(got, "\n") {
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}

// TestBusyboxImage checks the assembled image against both goldens recorded
// from dockerd and against ggcr's validator.
func TestBusyboxImage(t *testing.T) {
	RequireGoldenBusybox(t)
	img, err := BusyboxImage(hostBusybox)
	if err != nil {
		t.Fatalf("BusyboxImage: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tree, err := fsdump.Flatten([]io.Reader{rc})
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{
		"busybox.rootfs.golden": tree.Dump(),
		"busybox.config.golden": fsdump.ConfigDump(cf.Config),
	} {
		want, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs:\n%s", name, lineDiff(string(got), string(want)))
		}
	}
}
