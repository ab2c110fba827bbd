package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

var update = flag.Bool("update", false, "re-record testdata/docker-inspect-busybox.json from `docker image inspect busybox`")

const inspectGolden = "testdata/docker-inspect-busybox.json"

// jsonKeys returns the sorted keys of the JSON object at path in v.
func jsonKeys(t *testing.T, v map[string]any, path ...string) []string {
	t.Helper()
	cur := v
	for _, p := range path {
		next, ok := cur[p].(map[string]any)
		if !ok {
			t.Fatalf("%v: not an object", path)
		}
		cur = next
	}
	keys := make([]string, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compareInspectShape fails unless got and want have the same fields at
// the top level and in each nested object docker always prints.
func compareInspectShape(t *testing.T, got, want map[string]any) {
	t.Helper()
	for _, path := range [][]string{nil, {"Config"}, {"ContainerConfig"}, {"RootFS"}, {"Metadata"}, {"GraphDriver"}} {
		if _, ok := want[firstOr(path, "")]; len(path) > 0 && !ok {
			continue
		}
		g, w := jsonKeys(t, got, path...), jsonKeys(t, want, path...)
		if !slices.Equal(g, w) {
			t.Errorf("fields of %v:\n got  %v\n want %v", path, g, w)
		}
	}
}

func firstOr(p []string, d string) string {
	if len(p) == 0 {
		return d
	}
	return p[0]
}

func TestInspectMatchesDockerShape(t *testing.T) {
	if *update {
		dockerAvailable(t)
		out, err := exec.Command("docker", "image", "inspect", "busybox").Output()
		if err != nil {
			t.Fatalf("docker image inspect busybox: %v", err)
		}
		if err := os.WriteFile(inspectGolden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(inspectGolden)
	if err != nil {
		t.Fatal(err)
	}
	var golden []map[string]any
	if err := json.Unmarshal(raw, &golden); err != nil || len(golden) != 1 {
		t.Fatalf("golden: %v", err)
	}
	// An image configured like busybox: Env and Cmd set, nothing else.
	ctx := context.Background()
	s := newStore(t)
	m, err := s.Import(ctx, bytes.NewReader(rootfsTar(t, map[string]string{"bin/sh": "x"})), "busybox:latest", ImportOptions{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"sh"},
	})
	if err != nil {
		t.Fatal(err)
	}
	ins, err := s.Inspect(ctx, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(ins)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	compareInspectShape(t, got, golden[0])

	// Values.
	img, _ := s.Image(m)
	cfgName, _ := img.ConfigName()
	cfg, _ := img.ConfigFile()
	if ins.ID != cfgName.String() || !slices.Equal(ins.RepoTags, []string{"busybox:latest"}) ||
		!slices.Equal(ins.RepoDigests, []string{"busybox@" + m.String()}) ||
		ins.Os != "linux" || ins.Architecture != cfg.Architecture || ins.Comment != "Imported from -" ||
		!slices.Equal(ins.Config.Cmd, []string{"sh"}) || len(ins.RootFS.Layers) != 1 ||
		ins.RootFS.Layers[0] != cfg.RootFS.DiffIDs[0].String() || ins.Metadata.LastTagTime.IsZero() {
		t.Fatalf("inspect = %s", b)
	}
	if _, err := time.Parse(time.RFC3339Nano, ins.Created); err != nil {
		t.Fatalf("Created %q: %v", ins.Created, err)
	}
	if _, err := s.Inspect(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Inspect(nope) = %v", err)
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	base, err := random.Image(300, 2)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := base.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.History = append(cfg.History, v1.History{CreatedBy: "ENV A=b", EmptyLayer: true, Created: v1.Time{Time: time.Unix(1700000000, 0).UTC()}})
	img, err := mutate.ConfigFile(base, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddImage(ctx, m, "hist:1"); err != nil {
		t.Fatal(err)
	}
	h, err := s.History(ctx, "hist:1")
	if err != nil {
		t.Fatal(err)
	}
	man, _ := img.Manifest()
	id, _ := img.ConfigName()
	want := []HistoryEntry{
		{ID: id.String(), CreatedBy: "ENV A=b", EmptyLayer: true, Tags: []string{"hist:1"}, Created: time.Unix(1700000000, 0).UTC()},
		{ID: "<missing>", CreatedBy: "random", Comment: "this is a random history 1 of 2", Size: man.Layers[1].Size},
		{ID: "<missing>", CreatedBy: "random", Comment: "this is a random history 0 of 2", Size: man.Layers[0].Size},
	}
	if len(h) != len(want) {
		t.Fatalf("history has %d entries, want %d: %+v", len(h), len(want), h)
	}
	for i := range want {
		g, w := h[i], want[i]
		if g.ID != w.ID || g.CreatedBy != w.CreatedBy || g.Comment != w.Comment || g.Size != w.Size ||
			g.EmptyLayer != w.EmptyLayer || !slices.Equal(g.Tags, w.Tags) || (!w.Created.IsZero() && !g.Created.Equal(w.Created)) {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestGoldenIsDockerInspect(t *testing.T) {
	// Guard against an accidentally emptied golden: it must be a real
	// docker inspect document with the fields the store promises.
	raw, err := os.ReadFile(filepath.Clean(inspectGolden))
	if err != nil {
		t.Fatal(err)
	}
	var golden []map[string]any
	if err := json.Unmarshal(raw, &golden); err != nil || len(golden) != 1 {
		t.Fatalf("golden: %v", err)
	}
	for _, k := range []string{"Id", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "DockerVersion",
		"Author", "Config", "Architecture", "Os", "Size", "RootFS", "Metadata"} {
		if _, ok := golden[0][k]; !ok {
			t.Errorf("golden lacks %s", k)
		}
	}
}
