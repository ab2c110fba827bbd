package store

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

// names returns the stored names of every image, keyed by manifest.
func indexNames(t *testing.T, s *Store) map[v1.Hash][]string {
	t.Helper()
	idx, err := s.readIndex(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[v1.Hash][]string{}
	for k, r := range idx.Images {
		h, _ := v1.NewHash(k)
		n := slices.Clone(r.Names)
		slices.Sort(n)
		out[h] = n
	}
	return out
}

func TestAddImageMovesNames(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := storeRandom(t, s, "busybox", "docker.io/library/busybox:1", "localhost:5000/x:1")
	b := storeRandom(t, s)
	if err := s.AddImage(ctx, b, "busybox:latest", "localhost:5000/x:1"); err != nil {
		t.Fatal(err)
	}
	got := indexNames(t, s)
	want := map[v1.Hash][]string{
		a: {"docker.io/library/busybox:1"},
		b: {"docker.io/library/busybox:latest", "localhost:5000/x:1"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	// Moving the last name leaves a dangling image.
	if err := s.AddImage(ctx, b, "busybox:1"); err != nil {
		t.Fatal(err)
	}
	if n := indexNames(t, s)[a]; len(n) != 0 {
		t.Fatalf("a should be dangling, has %v", n)
	}
	// Errors: unknown manifest, digest as a name, malformed name.
	wantErr(t, s.AddImage(ctx, sha([]byte("nope")), "x"), ErrNotFound)
	wantErr(t, s.AddImage(ctx, b, "x@"+b.String()), ErrInvalidName)
	wantErr(t, s.AddImage(ctx, b, "UPPER"), ErrInvalidName)
	wantErr(t, s.AddImage(ctx, v1.Hash{Algorithm: "sha256", Hex: "../x"}), ErrInvalidDigest)

	// The file on disk has the documented shape.
	raw, err := os.ReadFile(filepath.Join(s.Root(), indexFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Images map[string]struct {
			Names []string `json:"names"`
			Added string   `json:"added"`
		} `json:"images"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Images[a.String()].Names == nil || doc.Images[a.String()].Added == "" {
		t.Fatalf("dangling image record malformed: %s", raw)
	}
}

func TestTagUntag(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := storeRandom(t, s, "app:1")
	if err := s.Tag(ctx, "app:1", "registry.local/app:prod"); err != nil {
		t.Fatal(err)
	}
	if err := s.Tag(ctx, imageID(t, s, a).Hex[:12], "app:2"); err != nil {
		t.Fatal(err)
	}
	want := []string{"docker.io/library/app:1", "docker.io/library/app:2", "registry.local/app:prod"}
	if got := indexNames(t, s)[a]; !slices.Equal(got, want) {
		t.Fatalf("names = %v, want %v", got, want)
	}
	wantErr(t, s.Tag(ctx, "nope", "x"), ErrNotFound)
	wantErr(t, s.Tag(ctx, "app:1", "x@"+a.String()), ErrInvalidName)
	if err := s.Untag(ctx, "app:1"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, s.Untag(ctx, "app:1"), ErrNotFound)
	if err := s.Untag(ctx, "app:2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Untag(ctx, "registry.local/app:prod"); err != nil {
		t.Fatal(err)
	}
	names, ok := indexNames(t, s)[a]
	if !ok || len(names) != 0 {
		t.Fatalf("after untagging all: present=%v names=%v (want dangling record)", ok, names)
	}
}

// twoWithSharedIDPrefix stores random images until two image IDs share
// their first hex digit; it returns those two and the shared prefix.
func twoWithSharedIDPrefix(t *testing.T, s *Store) (v1.Hash, v1.Hash, string) {
	t.Helper()
	seen := map[byte]v1.Hash{}
	for range 17 { // pigeonhole: 17 IDs over 16 first digits
		m := storeRandom(t, s)
		c := imageID(t, s, m).Hex[0]
		if prev, ok := seen[c]; ok {
			return prev, m, string(c)
		}
		seen[c] = m
	}
	t.Fatal("unreachable: no shared prefix among 17 IDs")
	return v1.Hash{}, v1.Hash{}, ""
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	p, q, shared := twoWithSharedIDPrefix(t, s)
	a := storeRandom(t, s, "busybox", "localhost:5000/x:1")
	idA := imageID(t, s, a)
	// A name that is also a hex string resolves as a name first (docker).
	hexName := storeRandom(t, s, shared)
	unrecorded, err := s.WriteImage(ctx, mustRandom(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    v1.Hash
		wantErr error
	}{
		{in: "busybox", want: a},
		{in: "busybox:latest", want: a},
		{in: "docker.io/library/busybox:latest", want: a},
		{in: "index.docker.io/library/busybox", want: a},
		{in: "localhost:5000/x:1", want: a},
		{in: a.String(), want: a},                       // manifest digest
		{in: "busybox@" + a.String(), want: a},          // name@digest
		{in: "other@" + a.String(), want: a},            // repo not checked
		{in: idA.String(), want: a},                     // full image ID
		{in: idA.Hex, want: a},                          // full ID without algorithm
		{in: idA.Hex[:12], want: a},                     // short ID
		{in: "sha256:" + idA.Hex[:12], want: a},         // short ID with algorithm
		{in: shared, want: hexName},                     // name beats ID prefix
		{in: imageID(t, s, p).Hex[:64], want: p},        // unambiguous full ID
		{in: imageID(t, s, q).Hex, want: q},             // unambiguous full ID
		{in: "sha256:" + shared, wantErr: ErrAmbiguous}, // ambiguous prefix
		{in: "busybox:2", wantErr: ErrNotFound},
		{in: "nope", wantErr: ErrNotFound},
		{in: "abcdefabcdef" + "0", wantErr: ErrNotFound}, // hex, no match (unless chance)
		{in: unrecorded.String(), wantErr: ErrNotFound},  // blob present, not recorded
		{in: "nope@" + unrecorded.String(), wantErr: ErrNotFound},
		{in: "", wantErr: ErrInvalidName},
		{in: "Bad Name", wantErr: ErrInvalidName},
		{in: "sha256:xyz", wantErr: ErrInvalidDigest},
		{in: "busybox@sha256:abc", wantErr: ErrInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := s.Resolve(ctx, tt.in)
			if tt.wantErr != nil {
				if tt.in == "abcdefabcdef0" && err == nil {
					t.Skip("random ID happens to start with the probe")
				}
				wantErr(t, err, tt.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Resolve(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	ctx := context.Background()
	type state struct {
		s    *Store
		a, b v1.Hash // a: busybox:latest, busybox:1; b: busybox:2, other:1
		c    v1.Hash // dangling
		ids  map[v1.Hash]v1.Hash
	}
	setup := func(t *testing.T) state {
		s := newStore(t)
		st := state{
			s: s,
			a: storeRandom(t, s, "busybox:latest", "busybox:1"),
			b: storeRandom(t, s, "busybox:2", "other:1"),
			c: storeRandom(t, s),
		}
		st.ids = map[v1.Hash]v1.Hash{st.a: imageID(t, s, st.a), st.b: imageID(t, s, st.b), st.c: imageID(t, s, st.c)}
		return st
	}
	short := func(st state, h v1.Hash) string { return st.ids[h].Hex[:12] }
	id := func(st state, h v1.Hash) string { return st.ids[h].String() }
	tests := []struct {
		name      string
		ref       func(state) string
		force     bool
		wantLines func(state) []string
		wantErr   error
		remaining func(state) map[v1.Hash][]string
	}{
		{
			name:      "by name, other names remain",
			ref:       func(state) string { return "busybox" },
			wantLines: func(state) []string { return []string{"Untagged: busybox:latest"} },
			remaining: func(st state) map[v1.Hash][]string {
				return map[v1.Hash][]string{st.a: {"docker.io/library/busybox:1"}, st.b: {"docker.io/library/busybox:2", "docker.io/library/other:1"}, st.c: {}}
			},
		},
		{
			name: "by short ID, single repository: no force needed",
			ref:  func(st state) string { return short(st, st.a) },
			wantLines: func(st state) []string {
				return []string{"Untagged: busybox:latest", "Untagged: busybox:1", "Deleted: " + id(st, st.a)}
			},
			remaining: func(st state) map[v1.Hash][]string {
				return map[v1.Hash][]string{st.b: {"docker.io/library/busybox:2", "docker.io/library/other:1"}, st.c: {}}
			},
		},
		{
			name:    "by ID, several repositories: conflict",
			ref:     func(st state) string { return id(st, st.b) },
			wantErr: ErrConflict,
		},
		{
			name:  "by ID, several repositories, forced",
			ref:   func(st state) string { return id(st, st.b) },
			force: true,
			wantLines: func(st state) []string {
				return []string{"Untagged: busybox:2", "Untagged: other:1", "Deleted: " + id(st, st.b)}
			},
			remaining: func(st state) map[v1.Hash][]string {
				return map[v1.Hash][]string{st.a: {"docker.io/library/busybox:1", "docker.io/library/busybox:latest"}, st.c: {}}
			},
		},
		{
			name:      "last name deletes the image",
			ref:       func(state) string { return "other:1" },
			wantLines: func(state) []string { return []string{"Untagged: other:1"} },
			remaining: func(st state) map[v1.Hash][]string {
				return map[v1.Hash][]string{st.a: {"docker.io/library/busybox:1", "docker.io/library/busybox:latest"}, st.b: {"docker.io/library/busybox:2"}, st.c: {}}
			},
		},
		{
			name:      "dangling by manifest digest",
			ref:       func(st state) string { return st.c.String() },
			wantLines: func(st state) []string { return []string{"Deleted: " + id(st, st.c)} },
			remaining: func(st state) map[v1.Hash][]string {
				return map[v1.Hash][]string{st.a: {"docker.io/library/busybox:1", "docker.io/library/busybox:latest"}, st.b: {"docker.io/library/busybox:2", "docker.io/library/other:1"}}
			},
		},
		{
			name:    "unknown",
			ref:     func(state) string { return "missing:1" },
			wantErr: ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := setup(t)
			blobsBefore := blobCount(t, st.s)
			before := indexNames(t, st.s)
			lines, err := st.s.Remove(ctx, tt.ref(st), tt.force)
			if tt.wantErr != nil {
				wantErr(t, err, tt.wantErr)
				if got := indexNames(t, st.s); fmt.Sprint(got) != fmt.Sprint(before) {
					t.Fatalf("failed Remove changed the index: %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.wantLines(st); !slices.Equal(lines, want) {
				t.Fatalf("lines = %q, want %q", lines, want)
			}
			if got, want := indexNames(t, st.s), tt.remaining(st); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("index = %v, want %v", got, want)
			}
			if blobCount(t, st.s) != blobsBefore {
				t.Fatal("Remove deleted blobs")
			}
		})
	}
	// "last name deletes": check the record really went away.
	st := setup(t)
	st.s.Remove(ctx, "busybox:2", false)
	lines, err := st.s.Remove(ctx, "other:1", false)
	if err != nil || !slices.Equal(lines, []string{"Untagged: other:1", "Deleted: " + id(st, st.b)}) {
		t.Fatalf("lines = %q, %v", lines, err)
	}
	if _, ok := indexNames(t, st.s)[st.b]; ok {
		t.Fatal("record of untagged image kept")
	}
}

func mustRandom(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(128, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestList(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	a := storeRandom(t, s, "a:1")
	b := storeRandom(t, s)
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("List returned %d images", len(list))
	}
	byManifest := map[v1.Hash]ImageSummary{}
	for _, e := range list {
		byManifest[e.Manifest] = e
	}
	for _, m := range []v1.Hash{a, b} {
		e, ok := byManifest[m]
		if !ok {
			t.Fatalf("image %s missing", m)
		}
		img, _ := s.Image(m)
		man, _ := img.Manifest()
		if e.ID != man.Config.Digest || e.Size != manifestSize(man) || e.Added.IsZero() {
			t.Fatalf("summary %+v", e)
		}
	}
	if !slices.Equal(byManifest[a].Names, []string{"docker.io/library/a:1"}) || len(byManifest[b].Names) != 0 {
		t.Fatalf("names: %v %v", byManifest[a].Names, byManifest[b].Names)
	}
}

func TestConcurrentAddImage(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	ms := []v1.Hash{storeRandom(t, s), storeRandom(t, s), storeRandom(t, s)}
	const goroutines, per = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*per)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := s.AddImage(ctx, ms[(g+i)%len(ms)], fmt.Sprintf("g%d/img:%d", g, i)); err != nil {
					errs <- err
				}
			}
		}()
	}
	// Meanwhile, processes: two helpers adding their own names.
	var cmds []*exec.Cmd
	for p := range 2 {
		cmds = append(cmds, startAddHelper(t, s, ms, fmt.Sprintf("proc%d", p), per))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper process: %v", err)
		}
	}
	all := map[string]int{}
	for _, names := range indexNames(t, s) {
		for _, n := range names {
			all[n]++
		}
	}
	for g := range goroutines {
		for i := range per {
			if n := fmt.Sprintf("docker.io/g%d/img:%d", g, i); all[n] != 1 {
				t.Errorf("%s recorded %d times", n, all[n])
			}
		}
	}
	for p := range 2 {
		for i := range per {
			if n := fmt.Sprintf("docker.io/proc%d/img:%d", p, i); all[n] != 1 {
				t.Errorf("%s recorded %d times", n, all[n])
			}
		}
	}
	if want := (goroutines + 2) * per; len(all) != want {
		t.Errorf("%d names recorded, want %d", len(all), want)
	}
	if tmpCount(t, s) != 0 {
		t.Error("temp files left")
	}
}

func startAddHelper(t *testing.T, s *Store, ms []v1.Hash, prefix string, n int) *exec.Cmd {
	t.Helper()
	var strs []string
	for _, m := range ms {
		strs = append(strs, m.String())
	}
	cmd := runHelper(t, "addimages",
		"HOIST_STORE_ROOT="+s.Root(),
		"HOIST_STORE_MANIFESTS="+strings.Join(strs, ","),
		"HOIST_STORE_PREFIX="+prefix,
		fmt.Sprintf("HOIST_STORE_N=%d", n))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}
