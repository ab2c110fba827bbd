package container

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestCommitLayer: a commit appends the container's changes to its image as one layer of the store
// (store.Layer): the image validates (digests and diff IDs re-derived from the bytes), and the new
// layer holds the file the container wrote, with the message and author in its history.
func TestCommitLayer(t *testing.T) {
	prereq.Require(t, prereq.Root) // container dirs are created as root
	ctx := context.Background()
	root, st := testutil.NewRoot(t)
	r, err := Open(root, st)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Create(ctx, CreateOptions{Image: "busybox", Args: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.Dir(c.ID), "upper", "hello"), []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id, err := r.Commit(ctx, c.ID, CommitOptions{Ref: "committed:1", Message: "msg", Author: "me"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.Resolve(ctx, "committed:1")
	if err != nil {
		t.Fatal(err)
	}
	img, err := st.Image(m)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := img.ConfigName(); got != id {
		t.Errorf("committed:1 has config %s, Commit returned %s", got, id)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("%d layers, %v; want busybox's and the commit's", len(layers), err)
	}
	rc, err := layers[1].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "hello" {
			b, _ := io.ReadAll(tr)
			found = string(b) == "hi\n"
		}
	}
	if !found {
		t.Error("the committed layer lacks hello with the container's content")
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	last := cfg.History[len(cfg.History)-1]
	if last.Comment != "msg" || last.Author != "me" || cfg.Author != "me" {
		t.Errorf("history %+v, author %q; want the commit's message and author", last, cfg.Author)
	}
}
