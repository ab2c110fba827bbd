package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
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
	prereq.Require(t, prereq.Root)
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

// TestLazyCacheImport: a build on an empty root whose steps all hit a registry cache downloads no layer
// (they are remote-backed) and yields the image the first root built. Pushing it to another
// repository on the same registry mounts the layers (the bytes never come to the root); running or
// saving it fetches them, verified; when the registry has lost a layer, the fetch fails naming the
// layer and the repository and leaves nothing half-written; prune keeps the records an image uses and
// drops the rest.
func TestLazyCacheImport(t *testing.T) {
	reg := testutil.Registry(t)
	cacheRepo := reg + "/cache/lazy"
	files := map[string]string{
		"Dockerfile":   "FROM busybox\nRUN head -c 3000000 /dev/urandom > /big && date +%s%N > /stamp\nCOPY app/ /app/\n",
		"app/main.txt": "main\n",
	}
	build := func(root string, cacheFlag ...string) result {
		t.Helper()
		args := append([]string{"build", "-t", "app:1"}, cacheFlag...)
		return mustOK(t, hoist(t, root, "", append(args, writeContext(t, files))...), "build in "+root)
	}
	rootA := newRoot(t)
	build(rootA, "--cache-to", "type=registry,ref="+cacheRepo+":1,mode=max")
	digest := imageDigests(t, rootA, "app")
	big := largestLayer(t, rootA, digest)

	rootB := newRoot(t)
	if r := build(rootB, "--cache-from", "type=registry,ref="+cacheRepo+":1"); strings.Contains(r.stderr, "cache miss") || strings.Contains(r.stderr, "fetching") {
		t.Errorf("build B ran a step or fetched a layer:\n%s", r.stderr)
	}
	if got := imageDigests(t, rootB, "app"); got != digest {
		t.Fatalf("image digests differ: A %s, B %s", digest, got)
	}
	if hasBlob(rootB, big) || !fileExists(filepath.Join(rootB, "lazy", "sha256", big.Hex+".json")) {
		t.Fatalf("layer %s: want remote-backed in B, not stored", big)
	}
	if df := mustOK(t, hoist(t, rootB, "", "system", "df"), "system df").stdout; !strings.Contains(df, "imported lazily") {
		t.Errorf("system df does not mention the remote-backed layers:\n%s", df)
	}

	// Push to another repository of the registry: the layers are mounted, so B still lacks them.
	pushed := reg + "/pushed/lazy:1"
	if r := mustOK(t, hoist(t, rootB, "", "push", "app:1", pushed), "push"); strings.Contains(r.stderr, "fetching") || hasBlob(rootB, big) {
		t.Errorf("push fetched the remote-backed layer instead of mounting it:\n%s", r.stderr)
	}
	rootC := newRoot(t)
	mustOK(t, hoist(t, rootC, "", "pull", pushed), "pull pushed")
	if got := imageDigests(t, rootC, reg+"/pushed/lazy"); got != digest {
		t.Errorf("pushed image pulls back as %s, want %s", got, digest)
	}

	// Running or saving the image needs the bytes: they are fetched, verified, and stay.
	mustOK(t, hoist(t, rootB, "", "run", "--rm", "--network", "none", "app:1", "test", "-s", "/big"), "run B")
	rootE := newRoot(t)
	build(rootE, "--cache-from", "type=registry,ref="+cacheRepo+":1")
	mustOK(t, hoist(t, rootE, "", "save", "-o", filepath.Join(t.TempDir(), "app.tar"), "app:1"), "save E")
	for _, root := range []string{rootB, rootE} {
		if b, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", big.Hex)); err != nil || sha256Hex(b) != big.Hex {
			t.Errorf("layer not stored (or wrong) in %s after use: %v", root, err)
		}
	}

	// The registry loses the layer: the on-demand fetch fails cleanly.
	rootD := newRoot(t)
	build(rootD, "--cache-from", "type=registry,ref="+cacheRepo+":1")
	deleteBlob(t, cacheRepo, big)
	r := hoist(t, rootD, "", "save", "-o", filepath.Join(t.TempDir(), "app.tar"), "app:1")
	if r.code == 0 || !strings.Contains(r.stderr, "layer "+big.String()+" is not in the local store and fetching it from "+cacheRepo+" failed") {
		t.Errorf("save with the layer gone from the registry: exit %d\n%s", r.code, r.stderr)
	}
	if hasBlob(rootD, big) || len(dirNames(t, filepath.Join(rootD, "tmp"))) != 0 {
		t.Error("the failed fetch left a blob or temp files")
	}

	// Prune keeps what an image uses, remote-backed or not; once the image is gone, it drops the records.
	mustOK(t, hoist(t, rootD, "", "prune", "--all"), "prune --all")
	if !fileExists(filepath.Join(rootD, "lazy", "sha256", big.Hex+".json")) {
		t.Error("prune dropped a remote-backed layer an image uses")
	}
	mustOK(t, hoist(t, rootD, "", "rmi", "app:1"), "rmi")
	mustOK(t, hoist(t, rootD, "", "prune", "--all"), "prune --all")
	if names := dirNames(t, filepath.Join(rootD, "lazy", "sha256")); len(names) != 0 {
		t.Errorf("prune left remote-backed records no image uses: %v", names)
	}
}

// largestLayer is the biggest layer of the manifest with digest d in root.
func largestLayer(t *testing.T, root, d string) v1.Hash {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var big v1.Descriptor
	for _, l := range m.Layers {
		if l.Size > big.Size {
			big = l
		}
	}
	return big.Digest
}

func hasBlob(root string, h v1.Hash) bool {
	return fileExists(filepath.Join(root, "blobs", "sha256", h.Hex))
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// deleteBlob removes blob h from repo (host/path) through the registry API, as a registry's garbage
// collection or an operator would.
func deleteBlob(t *testing.T, repo string, h v1.Hash) {
	t.Helper()
	host, path, _ := strings.Cut(repo, "/")
	req, err := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/"+path+"/blobs/"+h.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("deleting %s from %s: %s", h, repo, resp.Status)
	}
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
