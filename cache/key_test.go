package cache

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/keys.golden")

func baseKey() *KeyBuilder {
	return NewKey("sha256:parent", "RUN").Strings("args", []string{"/bin/sh", "-c", "make"}).
		Strings("env", []string{"PATH=/bin"}).String("user", "").Map("labels", map[string]string{"a": "1", "b": "2"})
}

// TestKeyInputsMatter: every input changes the key; the same inputs give the same key.
func TestKeyInputsMatter(t *testing.T) {
	base := baseKey().Sum()
	if again := baseKey().Sum(); again != base {
		t.Fatalf("same inputs, different keys: %s %s", base, again)
	}
	variants := map[string]Key{
		"parent":         NewKey("sha256:other", "RUN").Strings("args", []string{"/bin/sh", "-c", "make"}).Strings("env", []string{"PATH=/bin"}).String("user", "").Map("labels", map[string]string{"a": "1", "b": "2"}).Sum(),
		"kind":           NewKey("sha256:parent", "COPY").Strings("args", []string{"/bin/sh", "-c", "make"}).Strings("env", []string{"PATH=/bin"}).String("user", "").Map("labels", map[string]string{"a": "1", "b": "2"}).Sum(),
		"args":           NewKey("sha256:parent", "RUN").Strings("args", []string{"/bin/sh", "-c", "make all"}).Strings("env", []string{"PATH=/bin"}).String("user", "").Map("labels", map[string]string{"a": "1", "b": "2"}).Sum(),
		"args split":     NewKey("sha256:parent", "RUN").Strings("args", []string{"/bin/sh -c", "make"}).Strings("env", []string{"PATH=/bin"}).String("user", "").Map("labels", map[string]string{"a": "1", "b": "2"}).Sum(),
		"env":            NewKey("sha256:parent", "RUN").Strings("args", []string{"/bin/sh", "-c", "make"}).Strings("env", []string{"PATH=/usr/bin"}).String("user", "").Map("labels", map[string]string{"a": "1", "b": "2"}).Sum(),
		"user":           NewKey("sha256:parent", "RUN").Strings("args", []string{"/bin/sh", "-c", "make"}).Strings("env", []string{"PATH=/bin"}).String("user", "nobody").Map("labels", map[string]string{"a": "1", "b": "2"}).Sum(),
		"label value":    NewKey("sha256:parent", "RUN").Strings("args", []string{"/bin/sh", "-c", "make"}).Strings("env", []string{"PATH=/bin"}).String("user", "").Map("labels", map[string]string{"a": "1", "b": "3"}).Sum(),
		"field boundary": NewKey("sha256:parent", "RUN").Strings("args", []string{"/bin/sh", "-c", "make"}).Strings("env", []string{"PATH=/bin"}).String("use", "r").Map("labels", map[string]string{"a": "1", "b": "2"}).Sum(),
	}
	seen := map[Key]string{base: "base"}
	for name, k := range variants {
		if prev, dup := seen[k]; dup {
			t.Errorf("changing %s gives the same key as %s", name, prev)
		}
		seen[k] = name
	}
}

// TestKeyGolden pins the encoding: a change here invalidates every cache and needs a Version bump.
func TestKeyGolden(t *testing.T) {
	got := fmt.Sprintf("%s\n%s\n%s\n",
		baseKey().Sum(),
		NewKey("", "FROM").String("base", "scratch").Sum(),
		NewKey("", "FROM").Bool("x", true).Strings("empty", nil).Map("none", nil).Sum())
	if *update {
		if err := os.WriteFile("testdata/keys.golden", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/keys.golden")
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != got {
		t.Errorf("keys changed (bump Version if intended):\nwant %s\ngot  %s", want, got)
	}
	if !strings.HasPrefix(got, "sha256:") {
		t.Errorf("key %q lacks its algorithm", got)
	}
}

func TestStore(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	k := baseKey().Sum()
	if _, err := s.Get(k); !errors.Is(err, ErrMiss) {
		t.Fatalf("Get on empty store: %v, want ErrMiss", err)
	}
	rec := Record{Layer: &Layer{Digest: "sha256:a", DiffID: "sha256:b", Size: 3, MediaType: "m"}, Created: time.Unix(100, 0).UTC(), Step: "RUN x"}
	if err := s.Put(k, rec); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Layer != *rec.Layer || !got.Created.Equal(rec.Created) || got.Step != rec.Step {
		t.Errorf("Get = %+v, want %+v", got, rec)
	}
	// A corrupt record is a miss, not an error that fails the build.
	if err := os.WriteFile(s.path(k), []byte("{garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(k); !errors.Is(err, ErrMiss) {
		t.Errorf("corrupt record: %v, want ErrMiss", err)
	}
	entries, _ := os.ReadDir(s.dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temp file left: %s", e.Name())
		}
	}
}
