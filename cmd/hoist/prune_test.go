package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestPrune: builder prune removes the cache only dangling results use and never what an image uses;
// --all removes every record while tagged images stay whole; a prune during a build waits for it.
func TestPrune(t *testing.T) {
	root := newRoot(t)
	keepCtx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo keep > /keep\n"})
	dropCtx := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN head -c 100000 /dev/urandom > /drop\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "keep:1", keepCtx), "build keep")
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "drop:1", dropCtx), "build drop")
	mustOK(t, hoist(t, root, "", "rmi", "drop:1"), "rmi drop")

	df := mustOK(t, hoist(t, root, "", "system", "df"), "system df").stdout
	for _, want := range []string{"TYPE", "RECLAIMABLE", "Images", "Build Cache"} {
		if !strings.Contains(df, want) {
			t.Errorf("system df lacks %q:\n%s", want, df)
		}
	}

	out := mustOK(t, hoist(t, root, "", "builder", "prune"), "builder prune").stdout
	if !strings.Contains(out, "Deleted 1 cache records") || !strings.Contains(out, "Total reclaimed space") {
		t.Errorf("builder prune printed %q", out)
	}
	// The tagged image is still served from the cache; the pruned one runs again.
	if r := mustOK(t, hoist(t, root, "", "build", "-t", "keep:1", keepCtx), "rebuild keep"); strings.Contains(r.stderr, "cache miss") {
		t.Errorf("prune removed cache a tagged image uses:\n%s", r.stderr)
	}
	if r := mustOK(t, hoist(t, root, "", "build", "-t", "drop:1", dropCtx), "rebuild drop"); !strings.Contains(r.stderr, "cache miss") {
		t.Errorf("the dangling cache survived prune:\n%s", r.stderr)
	}

	mustOK(t, hoist(t, root, "", "prune", "--all"), "prune --all")
	// Images are whole: every blob is still there (save reads them all) and a child builds on it.
	mustOK(t, hoist(t, root, "", "save", "-o", filepath.Join(t.TempDir(), "keep.tar"), "keep:1"), "save after prune --all")
	if r := mustOK(t, hoist(t, root, "", "build", "-t", "keep:1", keepCtx), "rebuild keep"); !strings.Contains(r.stderr, "cache miss") {
		t.Errorf("prune --all left cache records:\n%s", r.stderr)
	}
	if r := hoist(t, root, "", "builder", "prune", "--keep-storage", "lots"); r.code == 0 || !strings.Contains(r.stderr, "--keep-storage") {
		t.Errorf("bad --keep-storage: %d %s", r.code, r.stderr)
	}

	// A prune started during a build waits for it: the build's image is complete afterwards.
	slow := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo start-$((1+1)) && sleep 1 && head -c 50000 /dev/urandom > /slow\n"})
	build := hoistCmd(root, "build", "-q", "-t", "slow:1", slow)
	var buildErr strings.Builder
	build.Stderr = &buildErr
	if err := build.Start(); err != nil {
		t.Fatal(err)
	}
	mustOK(t, hoist(t, root, "", "builder", "prune", "--all"), "prune during build")
	if err := build.Wait(); err != nil {
		t.Fatalf("build during prune: %v\n%s", err, buildErr.String())
	}
	mustOK(t, hoist(t, root, "", "save", "-o", filepath.Join(t.TempDir(), "slow.tar"), "slow:1"), "save image built during prune")
	if l := countLeftovers(t, root); l != (leftovers{}) {
		t.Errorf("leftovers: %s", l)
	}
}

// TestContainerImagesAreProtected: rmi refuses to delete an image a container uses (without -f, and
// with -f while it runs), and prune keeps what containers use even after the image was force-removed.
func TestContainerImagesAreProtected(t *testing.T) {
	root := newRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo used > /used\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "used:1", ctxDir), "build")
	mustOK(t, hoist(t, root, "", "create", "--name", "keeper", "--network", "none", "used:1", "cat", "/used"), "create")
	defer hoist(t, root, "", "rm", "-f", "keeper")
	if r := hoist(t, root, "", "rmi", "used:1"); r.code == 0 || !strings.Contains(r.stderr, "must force") {
		t.Errorf("rmi of an image a container uses: exit %d %q", r.code, r.stderr)
	}
	mustOK(t, hoist(t, root, "", "rmi", "-f", "used:1"), "rmi -f")
	mustOK(t, hoist(t, root, "", "prune", "--all"), "prune --all")
	r := mustOK(t, hoist(t, root, "", "start", "-a", "keeper"), "start after prune")
	if strings.TrimSpace(r.stdout) != "used" {
		t.Errorf("container after prune printed %q", r.stdout)
	}
}
