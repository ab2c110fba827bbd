package main

import (
	"strings"
	"testing"
)

// TestBuildTriesCachesFirst: hoist build first tries the build with its caches only and drops that
// attempt's output when a step must run, so a cold build prints each step once, a no-op rebuild
// prints its steps CACHED with the same image ID, and a bad Dockerfile is reported once.
func TestBuildTriesCachesFirst(t *testing.T) {
	root := newRoot(t)
	ctx := writeContext(t, map[string]string{
		"Dockerfile": "FROM busybox\nWORKDIR /w\nCOPY f ./\nRUN cat f > g\nENV X=1\n",
		"f":          "x\n",
	})
	cold := hoist(t, root, "", "build", "-t", "tcf", ctx)
	if cold.code != 0 {
		t.Fatalf("cold build: exit %d\n%s", cold.code, cold.stderr)
	}
	for _, step := range []string{"STEP 1/5: FROM busybox", "STEP 3/5: COPY f ./", "STEP 4/5: RUN cat f > g", "naming to"} {
		if n := strings.Count(cold.stderr, step); n != 1 {
			t.Errorf("cold build printed %q %d times:\n%s", step, n, cold.stderr)
		}
	}
	if strings.Count(cold.stdout, "sha256:") != 1 {
		t.Errorf("cold build stdout %q: want one image ID", cold.stdout)
	}
	noop := hoist(t, root, "", "build", "-t", "tcf", ctx)
	if noop.code != 0 || noop.stdout != cold.stdout {
		t.Fatalf("no-op rebuild: exit %d, stdout %q (cold %q)\n%s", noop.code, noop.stdout, cold.stdout, noop.stderr)
	}
	if n := strings.Count(noop.stderr, "CACHED"); n != 3 {
		t.Errorf("no-op rebuild: %d CACHED steps, want 3:\n%s", n, noop.stderr)
	}
	bad := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nNOSUCH x\n"})
	res := hoist(t, root, "", "build", bad)
	if res.code != 1 || strings.Count(res.stderr, "unknown instruction") != 1 {
		t.Errorf("bad Dockerfile: exit %d, want 1 and the error once:\n%s", res.code, res.stderr)
	}
	if l := countLeftovers(t, root); l != (leftovers{}) {
		t.Errorf("left behind: %s", l)
	}
}
