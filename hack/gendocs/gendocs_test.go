package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedDocsAreCurrent: docs/ref (markdown and man pages per command, shell completions) is
// what `make docs` generates from the command tree now. A change to a command or a flag without
// `make docs` fails here.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	fresh := t.TempDir()
	if err := generate(fresh); err != nil {
		t.Fatal(err)
	}
	committed := filepath.Join("..", "..", "docs", "ref")
	files := func(dir string) map[string][]byte {
		out := map[string][]byte{}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(p)
			rel, _ := filepath.Rel(dir, p)
			out[rel] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := files(fresh), files(committed)
	for name, b := range want {
		if c, ok := got[name]; !ok {
			t.Errorf("docs/ref/%s is missing: run make docs", name)
		} else if !bytes.Equal(c, b) {
			t.Errorf("docs/ref/%s is out of date: run make docs", name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("docs/ref/%s is no longer generated: run make docs", name)
		}
	}
}
