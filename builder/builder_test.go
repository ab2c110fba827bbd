package builder_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/store"
)

func newBuilder(t *testing.T) (*builder.Builder, *store.Store) {
	t.Helper()
	prereq.Require(t, prereq.Root)
	root, st := testutil.NewRoot(t)
	b, err := builder.New(root, st)
	if err != nil {
		t.Fatal(err)
	}
	return b, st
}

func contextDir(t *testing.T, dockerfile string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestIndependentStagesRunConcurrently: two stages that can only finish if they run at the same time
// (each waits, through a shared cache mount, for a file the other writes). Run one after the other,
// the first would time out and fail the build.
func TestIndependentStagesRunConcurrently(t *testing.T) {
	b, _ := newBuilder(t)
	wait := func(mine, other string) string {
		return "RUN --mount=type=cache,id=rendezvous,target=/r touch /r/" + mine +
			" && i=0; while [ ! -e /r/" + other + " ]; do i=$((i+1)); [ $i -gt 400 ] && exit 7; sleep 0.05; done; echo ok > /" + mine + "\n"
	}
	df := "FROM busybox AS a\n" + wait("a", "b") + "FROM busybox AS b\n" + wait("b", "a") +
		"FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\n"
	var log bytes.Buffer
	_, err := b.Build(context.Background(), builder.Options{ContextDir: contextDir(t, df), Progress: &log, NoCache: true})
	if err != nil {
		t.Fatalf("stages did not run concurrently: %v\n%s", err, log.String())
	}
}

// TestAddURL: ADD of an http URL downloads the file (0600, into a directory destination by its name),
// and --checksum rejects a mismatch naming both digests.
func TestAddURL(t *testing.T) {
	b, _ := newBuilder(t)
	body := "downloaded content\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", time.Unix(1000000000, 0).UTC().Format(http.TimeFormat))
		w.Write([]byte(body))
	}))
	defer srv.Close()
	sum := sha256.Sum256([]byte(body))
	good := "sha256:" + hex.EncodeToString(sum[:])
	df := "FROM busybox\nADD --checksum=" + good + " " + srv.URL + "/files/data.txt /dl/\n" +
		"RUN test \"$(cat /dl/data.txt)\" = \"downloaded content\" && test \"$(stat -c %a /dl/data.txt)\" = 600\n"
	var log bytes.Buffer
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: contextDir(t, df), Progress: &log}); err != nil {
		t.Fatalf("ADD URL: %v\n%s", err, log.String())
	}
	bad := "FROM busybox\nADD --checksum=sha256:" + strings.Repeat("0", 64) + " " + srv.URL + "/x /x\n"
	_, err := b.Build(context.Background(), builder.Options{ContextDir: contextDir(t, bad)})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), good) {
		t.Errorf("checksum mismatch error = %v", err)
	}
}

// TestRebuildIsIdentical: a fully cached rebuild gives the same image ID, and --no-cache runs again.
func TestRebuildIsIdentical(t *testing.T) {
	b, _ := newBuilder(t)
	dir := contextDir(t, "FROM busybox\nRUN echo $RANDOM > /r\nENV X=1\n")
	first, err := b.Build(context.Background(), builder.Options{ContextDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	second, err := b.Build(context.Background(), builder.Options{ContextDir: dir, Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	if first.ImageID != second.ImageID {
		t.Errorf("cached rebuild changed the image: %s -> %s", first.ImageID, second.ImageID)
	}
	if !strings.Contains(log.String(), "CACHED") {
		t.Errorf("rebuild did not report CACHED:\n%s", log.String())
	}
	third, err := b.Build(context.Background(), builder.Options{ContextDir: dir, NoCache: true})
	if err != nil {
		t.Fatal(err)
	}
	if third.ImageID == first.ImageID {
		t.Errorf("--no-cache reused the cached RUN ($RANDOM gave the same image)")
	}
}

// TestRunNetworkNone: RUN --network=none sees only a loopback interface; the default (its own eth0) sees more.
func TestRunNetworkNone(t *testing.T) {
	b, _ := newBuilder(t)
	df := "FROM busybox\nRUN --network=none test \"$(ls /sys/class/net)\" = lo\nRUN test \"$(ls /sys/class/net | wc -l)\" -gt 1\n"
	var log bytes.Buffer
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: contextDir(t, df), Progress: &log}); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
}

// TestContextStatCache: rebuilding a context where nothing changed reads no file contents; after one
// file changes, exactly that one is read, and the COPY reruns.
func TestContextStatCache(t *testing.T) {
	b, _ := newBuilder(t)
	dir := contextDir(t, "FROM busybox\nCOPY . /ctx\n")
	for i := 0; i < 300; i++ {
		p := filepath.Join(dir, "d"+strconv.Itoa(i%10), "f"+strconv.Itoa(i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.Repeat("x", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond) // let the files age past the racy window before the first read
	first, err := b.Build(context.Background(), builder.Options{ContextDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if first.ContextFilesRead != 301 { // 300 files + the Dockerfile
		t.Errorf("first build read %d files, want 301", first.ContextFilesRead)
	}
	second, err := b.Build(context.Background(), builder.Options{ContextDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if second.ContextFilesRead != 0 || second.ImageID != first.ImageID {
		t.Errorf("no-op rebuild read %d files (want 0), image %s vs %s", second.ContextFilesRead, second.ImageID, first.ImageID)
	}
	if err := os.WriteFile(filepath.Join(dir, "d3", "f13"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := b.Build(context.Background(), builder.Options{ContextDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if third.ContextFilesRead != 1 || third.ImageID == first.ImageID {
		t.Errorf("after changing one file: read %d files (want 1), image changed: %v", third.ContextFilesRead, third.ImageID != first.ImageID)
	}
}

// TestSourceDateEpochReproducible: the same Dockerfile and context, built in two directories with two
// separate roots and the same SOURCE_DATE_EPOCH, give byte-identical manifests and configs.
func TestSourceDateEpochReproducible(t *testing.T) {
	epoch := time.Unix(1700000000, 0).UTC()
	df := "FROM busybox\nWORKDIR /app\nCOPY . .\nRUN mkdir -p /var/lib/x && echo built > /var/lib/x/f && echo 'u:x:1:1::/:/bin/sh' >> /etc/passwd\nENV A=1\n"
	var manifests, configs [][]byte
	for i := 0; i < 2; i++ {
		b, st := newBuilder(t)
		dir := contextDir(t, df)
		writeFiles(t, dir, map[string]string{"src/main.go": "package main\n", "README": "r\n"})
		if i == 1 {
			time.Sleep(1100 * time.Millisecond) // a different wall clock second for the second build
		}
		res, err := b.Build(context.Background(), builder.Options{ContextDir: dir, SourceDateEpoch: &epoch})
		if err != nil {
			t.Fatal(err)
		}
		img, err := st.Image(res.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := img.RawManifest()
		c, _ := img.RawConfigFile()
		manifests, configs = append(manifests, m), append(configs, c)
	}
	if !bytes.Equal(manifests[0], manifests[1]) {
		t.Errorf("manifests differ:\n%s\n%s", manifests[0], manifests[1])
	}
	if !bytes.Equal(configs[0], configs[1]) {
		t.Errorf("configs differ:\n%s\n%s", configs[0], configs[1])
	}
	if !bytes.Contains(configs[0], []byte(`"created":"2023-11-14T22:13:20Z"`)) {
		t.Errorf("created is not the epoch: %s", configs[0])
	}
}

// TestRunMounts: secrets are readable in RUN but absent from every layer, config and key; cache mounts
// persist across builds without entering layers; bind mounts from a stage are read-only views.
func TestRunMounts(t *testing.T) {
	b, st := newBuilder(t)
	secretFile := filepath.Join(t.TempDir(), "token")
	const secret = "s3cr3t-value-7b1f"
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	want := hex.EncodeToString(sum[:]) // the Dockerfile names only the secret's digest
	df := "FROM busybox AS tools\nRUN echo tool > /tool\n" +
		"FROM busybox\n" +
		"RUN --mount=type=secret,id=tok test \"$(sha256sum < /run/secrets/tok | cut -d' ' -f1)\" = " + want + " && test \"$(stat -c %a /run/secrets/tok)\" = 400 && echo used > /used\n" +
		"RUN --mount=type=secret,id=tok,env=TOKEN,target=/s test \"$(printf %s \"$TOKEN\" | sha256sum | cut -d' ' -f1)\" = " + want + "\n" +
		"RUN --mount=type=cache,id=c1,target=/cache,sharing=locked echo x >> /cache/log && wc -l < /cache/log > /cache-count\n" +
		"RUN --mount=type=bind,from=tools,source=/tool,target=/mnt/tool cat /mnt/tool > /copied-tool && ! touch /mnt/tool\n"
	dir := contextDir(t, df)
	opts := builder.Options{ContextDir: dir, Secrets: map[string]builder.Secret{"tok": {File: secretFile}}}
	var log bytes.Buffer
	opts.Progress = &log
	res, err := b.Build(context.Background(), opts)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	img, err := st.Image(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	// The secret appears in no blob of the image (layers uncompressed, config, manifest).
	layers, _ := img.Layers()
	for _, l := range layers {
		rc, _ := l.Uncompressed()
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		if bytes.Contains(buf.Bytes(), []byte(secret)) {
			t.Errorf("secret found in a layer")
		}
		if bytes.Contains(buf.Bytes(), []byte("run/secrets")) {
			t.Errorf("the secret's mount point ended up in a layer")
		}
	}
	cfg, _ := img.RawConfigFile()
	man, _ := img.RawManifest()
	if bytes.Contains(cfg, []byte(secret)) || bytes.Contains(man, []byte(secret)) {
		t.Errorf("secret found in the config or manifest")
	}
	// Nor in the build cache's records, history and context digests, nor in any stored blob.
	for _, dir := range []string{filepath.Join(st.Root(), "cache"), filepath.Join(st.Root(), "blobs")} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				if data, _ := os.ReadFile(p); bytes.Contains(data, []byte(secret)) {
					t.Errorf("secret found in %s", p)
				}
			}
			return nil
		})
	}
	// The cache mount kept its content: a second, uncached run appends a second line.
	opts.NoCache = true
	if _, err := b.Build(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	check := contextDir(t, "FROM busybox\nRUN --mount=type=cache,id=c1,target=/c test \"$(wc -l < /c/log)\" -ge 2\n")
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: check}); err != nil {
		t.Errorf("cache mount did not persist: %v", err)
	}
	// A required secret that was not given fails clearly.
	_, err = b.Build(context.Background(), builder.Options{ContextDir: contextDir(t, "FROM busybox\nRUN --mount=type=secret,id=nope,required true\n")})
	if err == nil || !strings.Contains(err.Error(), "nope") || !strings.Contains(err.Error(), "Dockerfile:2") {
		t.Errorf("missing required secret: %v", err)
	}
}

// TestAddKeepGitDirRefused: ADD --keep-git-dir only means something for git sources; on any other
// source it is an error naming the instruction, never silently ignored (BuildKit ignores it).
func TestAddKeepGitDirRefused(t *testing.T) {
	b, _ := newBuilder(t)
	dir := contextDir(t, "FROM busybox\nADD --keep-git-dir=true f /f\n")
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("f\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	_, err := b.Build(context.Background(), builder.Options{ContextDir: dir, Progress: &log})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:2") || !strings.Contains(err.Error(), "--keep-git-dir") {
		t.Fatalf("ADD --keep-git-dir: error %v, want one naming Dockerfile:2 and the flag", err)
	}
}
