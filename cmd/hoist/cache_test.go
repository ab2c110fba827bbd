package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil"
)

const crossMachineDockerfile = `FROM busybox AS deps
RUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs echo downloaded >> /var/cache/pkgs/log && cp /var/cache/pkgs/log /deps.log
RUN date +%s%N > /deps.stamp
FROM busybox
COPY app/ /app/
RUN date +%s%N > /stamp && cat /app/main.txt > /built
COPY --from=deps /deps.stamp /deps.stamp
RUN --mount=type=secret,id=tok test -s /run/secrets/tok && echo with-secret > /secret-used
`

// TestCacheAcrossMachines: a build on an empty root with --cache-from pointing at a cache exported by
// another root runs none of the steps the first one ran (each RUN writes a nanosecond timestamp, so a
// rerun would change the image) and yields the same image digest; cache mounts travel with
// cache-mounts=true; the secret is in no exported blob. Both transports: a real registry and a local dir.
func TestCacheAcrossMachines(t *testing.T) {
	testutil.RequireRoot(t)
	reg := testutil.Registry(t)
	secretFile := filepath.Join(t.TempDir(), "tok")
	const secret = "cache-export-secret-93af"
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	localDir := filepath.Join(t.TempDir(), "cache")
	for _, tc := range []struct{ name, to, from string }{
		{"registry", "type=registry,ref=" + reg + "/cache/app:1,mode=max,cache-mounts=true", "type=registry,ref=" + reg + "/cache/app:1"},
		{"local", "type=local,dest=" + localDir + ",mode=max,cache-mounts=true", "type=local,src=" + localDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"Dockerfile": crossMachineDockerfile, "app/main.txt": "main\n"}
			rootA := newRoot(t)
			first := mustOK(t, hoist(t, rootA, "", "build", "-t", "app:1", "--secret", "id=tok,src="+secretFile,
				"--cache-to", tc.to, writeContext(t, files)), "build A")
			digestA := imageDigests(t, rootA, "app")

			rootB := newRoot(t) // another machine: empty cache, another checkout directory
			second := mustOK(t, hoist(t, rootB, "", "build", "-t", "app:1", "--secret", "id=tok,src="+secretFile,
				"--cache-from", tc.from, writeContext(t, files)), "build B")
			if strings.Contains(second.stderr, "cache miss") || strings.Count(second.stderr, "imported from cache") != 6 {
				t.Errorf("build B ran steps (want all 6 imported):\n%s", second.stderr)
			}
			if digestB := imageDigests(t, rootB, "app"); digestB != digestA {
				t.Errorf("image digests differ: A %s, B %s\nA:\n%s", digestA, digestB, first.stderr)
			}
			log, err := os.ReadFile(filepath.Join(rootB, "cachemounts", "pkgs", "log"))
			if err != nil || string(log) != "downloaded\n" {
				t.Errorf("cache mount not restored: %q %v", log, err)
			}
		})
	}
	// The local export, every blob decompressed where possible: the secret is nowhere.
	filepath.Walk(localDir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		data, _ := os.ReadFile(p)
		if zr, err := gzip.NewReader(bytes.NewReader(data)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				data = plain
			}
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("secret found in exported cache blob %s", p)
		}
		return nil
	})
}

// imageDigests is the manifest digest of repo's latest image in root.
func imageDigests(t *testing.T, root, repo string) string {
	t.Helper()
	out := mustOK(t, hoist(t, root, "", "images", "--digests", "--no-trunc", repo), "images").stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("images %s:\n%s", repo, out)
	}
	return strings.Fields(lines[1])[2]
}

// TestCacheFromMissing: a cache that does not exist is a warning, not a failure.
func TestCacheFromMissing(t *testing.T) {
	root := newRoot(t)
	reg := testutil.Registry(t)
	r := mustOK(t, hoist(t, root, "", "build", "--cache-from", reg+"/no/such:cache",
		writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})), "build")
	if !strings.Contains(r.stderr, "[warning] --cache-from") {
		t.Errorf("no warning for a missing cache:\n%s", r.stderr)
	}
	bad := hoist(t, root, "", "build", "--cache-to", "type=registry,mode=huge", writeContext(t, map[string]string{"Dockerfile": "FROM busybox\n"}))
	if bad.code == 0 || !strings.Contains(bad.stderr, "--cache-to") {
		t.Errorf("bad --cache-to accepted: %d %s", bad.code, bad.stderr)
	}
}
