package builder_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/cache"
)

// TestCachedOnly: a builder made WithCachedOnly completes a build the caches fully answer, with
// the image the full build made and its tag, and fails every other build with ErrNotCachedOnly
// before it runs a step, mounts anything or pulls: nothing stored, named or mounted, no scratch
// left.
func TestCachedOnly(t *testing.T) {
	full, st := newBuilder(t)
	root := st.Root()
	only, err := builder.New(root, st, builder.WithCachedOnly())
	if err != nil {
		t.Fatal(err)
	}
	df := "FROM busybox AS a\nRUN echo a > /a\n" +
		"FROM busybox\nWORKDIR /w\nCOPY f ./\nCOPY --from=a /a /a\nRUN cat /a f > /both\nENV X=1\n"
	dir := contextDir(t, df)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	images := func() int {
		l, err := st.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	before := images()
	refused := func(what string, opts builder.Options) {
		t.Helper()
		_, err := only.Build(ctx, opts)
		if !errors.Is(err, builder.ErrNotCachedOnly) {
			t.Fatalf("%s: err %v, want ErrNotCachedOnly", what, err)
		}
		if n := images(); n != before {
			t.Fatalf("%s: %d images stored, %d before", what, n, before)
		}
		assertNoMountsUnder(t, root)
		if left, _ := filepath.Glob(filepath.Join(root, "builds", "*", "*")); len(left) > 0 {
			t.Fatalf("%s: scratch left behind: %v", what, left)
		}
	}
	refused("uncached build", builder.Options{ContextDir: dir, Tags: []string{"x:1"}})
	refused("missing base", builder.Options{ContextDir: contextDir(t, "FROM 127.0.0.1:1/nowhere:1\nENV A=1\n")})

	want, err := full.Build(ctx, builder.Options{ContextDir: dir, Tags: []string{"x:1"}})
	if err != nil {
		t.Fatal(err)
	}
	before = images()
	got, err := only.Build(ctx, builder.Options{ContextDir: dir, Tags: []string{"x:2"}})
	if err != nil {
		t.Fatalf("fully cached build: %v", err)
	}
	if got.ImageID != want.ImageID {
		t.Fatalf("cached-only build made %s, the full build %s", got.ImageID, want.ImageID)
	}
	if _, err := st.Resolve(ctx, "x:2"); err != nil {
		t.Fatalf("cached-only build did not name its tag: %v", err)
	}
	before = images()
	// A local export copies the unpacked layers: no mount, the cached-only build makes it.
	out := filepath.Join(t.TempDir(), "out")
	if _, err := only.Build(ctx, builder.Options{ContextDir: dir, Outputs: []builder.Output{{Type: builder.OutputLocal, Dest: out}}}); err != nil {
		t.Fatalf("cached-only local export: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "both")); err != nil || string(b) != "a\nf\n" {
		t.Fatalf("local export: /both = %q, %v", b, err)
	}
	// A tar export reads a read-only overlay of the image: refused, and no tar half-written.
	tarOut := filepath.Join(t.TempDir(), "fs.tar")
	refused("tar export", builder.Options{ContextDir: dir, Outputs: []builder.Output{{Type: builder.OutputTar, Dest: tarOut}}})
	if _, err := os.Stat(tarOut); !os.IsNotExist(err) {
		t.Fatalf("tar export wrote %s: %v", tarOut, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	refused("changed context", builder.Options{ContextDir: dir, Tags: []string{"x:3"}})
}

// assertNoMountsUnder fails if anything is mounted below dir.
func assertNoMountsUnder(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			t.Fatalf("left mounted: %s", f[4])
		}
	}
}

// TestCachedOnlySwappedLinkStaysInside: the cached-only attempt reads the context in the caller's
// process and mount namespace. The attack: after a build, a context file is replaced by a link to a
// secret outside the context (same name, the stat cache knows the old file). The attempt must not
// take the old digest (it stops, the link resolving inside the context to nothing), and neither it
// nor the full build after it may read the secret: the stat cache never holds the secret's digest and the image holds no marker.
func TestCachedOnlySwappedLinkStaysInside(t *testing.T) {
	full, st := newBuilder(t)
	only, err := builder.New(st.Root(), st, builder.WithCachedOnly())
	if err != nil {
		t.Fatal(err)
	}
	ec := newEscapeContext(t)
	opts := builder.Options{ContextDir: ec.dir, DockerfileData: []byte("FROM busybox\nCOPY keep /k\n")}
	if _, err := full.Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(ec.dir, "keep")
	if err := os.Remove(keep); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(ec.outside, "secret"), keep); err != nil {
		t.Fatal(err)
	}
	// The link resolves inside the context (BuildKit's rule), where nothing is: "not found", as the
	// full build says; a success would mean the old digest was taken.
	if _, err := only.Build(context.Background(), opts); err == nil ||
		!(errors.Is(err, builder.ErrNotCachedOnly) || strings.Contains(err.Error(), "not found")) {
		t.Fatalf("cached-only build after the swap: %v, want a refusal", err)
	}
	res, err := full.Build(context.Background(), opts)
	if err == nil {
		checkNoLeak(t, st, res, ec.marker)
	}
	secret, err := cache.HashFile(filepath.Join(ec.outside, "secret"))
	if err != nil {
		t.Fatal(err)
	}
	caches, _ := filepath.Glob(filepath.Join(st.Root(), "cache", "contexts", "*"))
	for _, c := range caches {
		if b, _ := os.ReadFile(c); strings.Contains(string(b), strings.TrimPrefix(secret, "sha256:")) {
			t.Fatalf("the secret outside the context was hashed into the stat cache %s", c)
		}
	}
	if len(caches) == 0 {
		t.Fatal("no stat cache written: the check above proves nothing")
	}
}
