package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/store"
)

var imageIDRe = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func mustOK(t *testing.T, r result, what string) result {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstderr:\n%s", what, r.code, r.stderr)
	}
	return r
}

// TestBuildFlags covers -f -, -q, --iidfile, --label, --build-arg and --target end to end.
func TestBuildFlags(t *testing.T) {
	root := newRoot(t)
	ctxDir := writeContext(t, map[string]string{"hello.txt": "hi\n"})
	dockerfile := "ARG V=default\nFROM busybox AS first\nARG V\nRUN echo $V > /v\nFROM first AS second\nCOPY hello.txt /\nLABEL stage=second\n"
	iid := filepath.Join(t.TempDir(), "iid")
	res := mustOK(t, hoist(t, root, dockerfile, "build", "-q", "-f", "-", "--iidfile", iid, "--label", "cli=yes",
		"--build-arg", "V=given", "--target", "first", "-t", "flags:latest", ctxDir), "build")
	id := strings.TrimSpace(res.stdout)
	if !imageIDRe.MatchString(id) {
		t.Fatalf("stdout is %q, want only the image ID", res.stdout)
	}
	if res.stderr != "" {
		t.Errorf("-q printed progress: %q", res.stderr)
	}
	if data, _ := os.ReadFile(iid); string(data) != id {
		t.Errorf("--iidfile has %q, want %q", data, id)
	}
	labels := mustOK(t, hoist(t, root, "", "inspect", "--format", "{{json .Config.Labels}}", "flags:latest"), "inspect").stdout
	if strings.TrimSpace(labels) != `{"cli":"yes"}` {
		t.Errorf("labels = %s (target first must not have stage=second; --label must be set)", labels)
	}
	check := writeContext(t, map[string]string{"Dockerfile": "FROM flags:latest\nRUN test \"$(cat /v)\" = given\n"})
	if r := hoist(t, root, "", "build", check); r.code != 0 {
		t.Errorf("the RUN did not see --build-arg V=given: %s", lastErrorLine(r.stderr))
	}
}

// TestImageCommands walks images, tag, inspect, history, rmi, save, load and import through the CLI.
func TestImageCommands(t *testing.T) {
	root := newRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo x > /x\nCMD [\"cat\", \"/x\"]\n"})
	id := strings.TrimSpace(mustOK(t, hoist(t, root, "", "build", "-q", "-t", "app:1", ctxDir), "build").stdout)
	short := strings.TrimPrefix(id, "sha256:")[:12]

	mustOK(t, hoist(t, root, "", "tag", "app:1", "registry.example:5000/team/app:v2"), "tag")
	images := mustOK(t, hoist(t, root, "", "images"), "images").stdout
	for _, want := range []string{"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "app ", "registry.example:5000/team/app", "v2", short, "busybox"} {
		if !strings.Contains(images, want) {
			t.Errorf("images output lacks %q:\n%s", want, images)
		}
	}
	if q := mustOK(t, hoist(t, root, "", "images", "-q", "app"), "images -q").stdout; strings.TrimSpace(q) != short {
		t.Errorf("images -q app = %q, want %q", q, short)
	}
	if d := mustOK(t, hoist(t, root, "", "images", "--digests"), "images --digests").stdout; !strings.Contains(d, "DIGEST") || !strings.Contains(d, "sha256:") {
		t.Errorf("images --digests:\n%s", d)
	}

	var inspect []map[string]any
	if err := json.Unmarshal([]byte(mustOK(t, hoist(t, root, "", "inspect", "app:1"), "inspect").stdout), &inspect); err != nil {
		t.Fatal(err)
	}
	if len(inspect) != 1 || inspect[0]["Id"] != id {
		t.Errorf("inspect Id = %v, want %s", inspect[0]["Id"], id)
	}
	if f := mustOK(t, hoist(t, root, "", "inspect", "--format", "{{.Os}}/{{.Architecture}} {{index .Config.Cmd 0}}", short), "inspect --format").stdout; !strings.HasPrefix(f, "linux/") || !strings.Contains(f, " cat") {
		t.Errorf("inspect --format = %q", f)
	}
	hist := mustOK(t, hoist(t, root, "", "history", "--no-trunc", "app:1"), "history").stdout
	for _, want := range []string{"IMAGE", "CREATED BY", "RUN /bin/sh -c echo x > /x", "CMD [\"cat\" \"/x\"]", id} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}

	// save → load into a fresh root, both formats.
	for _, format := range []string{"docker-archive", "oci-archive"} {
		tarPath := filepath.Join(t.TempDir(), "img.tar")
		mustOK(t, hoist(t, root, "", "save", "--format", format, "-o", tarPath, "app:1"), "save "+format)
		other, _ := testutil.NewRoot(t)
		out := mustOK(t, hoist(t, other, "", "load", "-i", tarPath), "load "+format).stdout
		if !strings.Contains(out, "Loaded image: app:1") {
			t.Errorf("load %s printed %q", format, out)
		}
		got := strings.TrimSpace(mustOK(t, hoist(t, other, "", "inspect", "--format", "{{.Id}}", "app:1"), "inspect").stdout)
		if got != id {
			t.Errorf("%s round trip changed the image ID: %s -> %s", format, id, got)
		}
	}

	// save -o to something that is not a regular file (a FIFO here; /dev/null in practice) writes
	// through it instead of renaming a file over it.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	read := make(chan int, 1)
	go func() {
		b, _ := os.ReadFile(fifo)
		read <- len(b)
	}()
	mustOK(t, hoist(t, root, "", "save", "-o", fifo, "app:1"), "save to a FIFO")
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("save -o replaced the FIFO: %v %v", fi.Mode(), err)
	}
	select {
	case n := <-read:
		if n < 1024 {
			t.Errorf("read %d bytes from the FIFO", n)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("nothing was written to the FIFO")
	}

	// import a rootfs tarball.
	imported := strings.TrimSpace(mustOK(t, hoist(t, root, string(testutil.BusyboxTar(t)), "import", "-c", `CMD ["sh"]`, "-", "imported:1"), "import").stdout)
	if !imageIDRe.MatchString(imported) {
		t.Errorf("import printed %q", imported)
	}

	// rmi: untag one name, then delete.
	out := mustOK(t, hoist(t, root, "", "rmi", "registry.example:5000/team/app:v2"), "rmi").stdout
	if !strings.Contains(out, "Untagged: registry.example:5000/team/app:v2") || strings.Contains(out, "Deleted") {
		t.Errorf("rmi of one of two names printed %q", out)
	}
	out = mustOK(t, hoist(t, root, "", "rmi", "app:1"), "rmi").stdout
	if !strings.Contains(out, "Untagged: app:1") || !strings.Contains(out, "Deleted: "+id) {
		t.Errorf("rmi of the last name printed %q", out)
	}
	if r := hoist(t, root, "", "inspect", "app:1"); r.code == 0 {
		t.Errorf("inspect after rmi succeeded")
	}
	if r := hoist(t, root, "", "rmi", "nosuch:image"); r.code == 0 || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("rmi of a missing image: exit %d, %q", r.code, r.stderr)
	}
}

// TestRegistryRoundTrip pushes a built image to a real registry (Debian's docker-registry), pulls it
// into a fresh root, builds FROM it there, and checks every digest read back matches.
func TestRegistryRoundTrip(t *testing.T) {
	root := newRoot(t)
	reg := testutil.Registry(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo pushed > /pushed\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "app:1", ctxDir), "build")
	ref := reg + "/team/app:1"
	push := mustOK(t, hoist(t, root, "", "push", "app:1", ref), "push").stdout
	localDigest := strings.TrimSpace(mustOK(t, hoist(t, root, "", "inspect", "--format", "{{index .RepoDigests 0}}", "app:1"), "inspect").stdout)
	if !strings.Contains(push, "digest: sha256:") {
		t.Fatalf("push printed %q", push)
	}

	other := t.TempDir()
	mustOK(t, hoist(t, other, "", "pull", ref), "pull")
	pulled := mustOK(t, hoist(t, other, "", "images", "--digests", "--no-trunc"), "images").stdout
	pushedDigest := push[strings.Index(push, "sha256:"):]
	pushedDigest = strings.Fields(pushedDigest)[0]
	if !strings.Contains(pulled, pushedDigest) {
		t.Errorf("pulled image digest differs from pushed %s:\n%s", pushedDigest, pulled)
	}
	_ = localDigest
	ctx2 := writeContext(t, map[string]string{"Dockerfile": "FROM " + ref + "\nRUN cat /pushed > /again\n"})
	mustOK(t, hoist(t, other, "", "build", "-q", "-t", "child:1", ctx2), "build FROM registry image")

	// A tag that does not exist: clear error, nothing stored.
	before := mustOK(t, hoist(t, other, "", "images", "-q"), "images").stdout
	r := hoist(t, other, "", "pull", reg+"/team/app:nope")
	if r.code == 0 || !strings.Contains(r.stderr, "nope") {
		t.Errorf("pull of a missing tag: exit %d, %q", r.code, r.stderr)
	}
	if after := mustOK(t, hoist(t, other, "", "images", "-q"), "images").stdout; after != before {
		t.Errorf("failed pull changed images")
	}
}

// TestConcurrentBuilds runs builds in parallel on one root: all succeed and the store stays valid.
func TestConcurrentBuilds(t *testing.T) {
	root := newRoot(t)
	const n = 4
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := 0; i < n; i++ {
		ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo shared > /shared\nRUN echo " + strings.Repeat("x", i+1) + " > /own\n"})
		wg.Add(1)
		go func(i int, dir string) {
			defer wg.Done()
			results[i] = hoist(t, root, "", "build", "-q", "-t", "par:"+string(rune('a'+i)), dir)
		}(i, ctxDir)
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("build %d failed: %s", i, r.stderr)
		}
	}
	images := mustOK(t, hoist(t, root, "", "images"), "images").stdout
	for i := 0; i < n; i++ {
		if !strings.Contains(images, "par ") || !strings.Contains(images, " "+string(rune('a'+i))+" ") {
			t.Errorf("images lacks par:%c:\n%s", 'a'+i, images)
		}
	}
	if l := countLeftovers(t, root); l != (leftovers{}) {
		t.Errorf("leftovers: %s", l)
	}
}

// TestCorruptLayerBlob: a base layer blob whose bytes were damaged fails the build with a clear error and
// no snapshot or image is kept.
func TestCorruptLayerBlob(t *testing.T) {
	root := newRoot(t)
	blobs, _ := filepath.Glob(filepath.Join(root, "blobs", "sha256", "*"))
	damaged := 0
	for _, b := range blobs {
		fi, err := os.Stat(b)
		if err != nil || fi.Size() < 100000 { // the busybox layer is the only big blob
			continue
		}
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(b, data, 0o644); err != nil {
			t.Fatal(err)
		}
		damaged++
	}
	if damaged != 1 {
		t.Fatalf("damaged %d blobs, want 1", damaged)
	}
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN true\n"})
	r := hoist(t, root, "", "build", "-t", "c:1", ctxDir)
	if r.code == 0 {
		t.Fatal("build on a corrupt base layer succeeded")
	}
	msg := lastErrorLine(r.stderr)
	if !strings.Contains(msg, "Dockerfile:2") || !(strings.Contains(msg, "corrupt") || strings.Contains(msg, "mismatch") || strings.Contains(msg, "gzip") || strings.Contains(msg, "flate")) {
		t.Errorf("unclear error: %s", msg)
	}
	snaps, _ := filepath.Glob(filepath.Join(root, "snapshots", "sha256*"))
	entries, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	for _, e := range entries {
		if len(e.Name()) == 64 {
			snaps = append(snaps, e.Name())
		}
	}
	if len(snaps) != 0 {
		t.Errorf("snapshots kept from a corrupt layer: %v", snaps)
	}
	if l := countLeftovers(t, root); l != (leftovers{}) {
		t.Errorf("leftovers: %s", l)
	}
	if out := mustOK(t, hoist(t, root, "", "images", "-q"), "images").stdout; strings.Count(out, "\n") != 1 {
		t.Errorf("images after failed build:\n%s", out)
	}
}

// TestSavedImageRunsInDocker: docker load accepts hoist save output and runs it (reference env only).
func TestSavedImageRunsInDocker(t *testing.T) {
	root := newRoot(t)
	prereq.Require(t, prereq.Docker)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo from-hoist > /msg\nCMD [\"cat\", \"/msg\"]\n"})
	mustOK(t, hoist(t, root, "", "build", "-q", "-t", "hoist-test/docker-load:1", ctxDir), "build")
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	mustOK(t, hoist(t, root, "", "save", "-o", tarPath, "hoist-test/docker-load:1"), "save")
	if out, err := exec.Command("docker", "load", "-i", tarPath).CombinedOutput(); err != nil {
		t.Fatalf("docker load: %v\n%s", err, out)
	}
	defer exec.Command("docker", "rmi", "-f", "hoist-test/docker-load:1").Run()
	out, err := exec.Command("docker", "run", "--rm", "--network", "none", "hoist-test/docker-load:1").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "from-hoist" {
		t.Errorf("docker run: %v %q", err, out)
	}
}

// TestBuildCompression: --compression zstd and estargz give images whose layers use that encoding
// (estargz layers carry the TOC digest annotation), tagged in place of the gzip build.
func TestBuildCompression(t *testing.T) {
	root := newRoot(t)
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo z > /z\n"})
	for _, tc := range []struct{ comp, mediaType, annotation string }{
		{"zstd", "application/vnd.oci.image.layer.v1.tar+zstd", ""},
		{"estargz", "application/vnd.oci.image.layer.v1.tar+gzip", "containerd.io/snapshot/stargz/toc.digest"},
	} {
		id := strings.TrimSpace(mustOK(t, hoist(t, root, "", "build", "-q", "--compression", tc.comp, "-t", "c:"+tc.comp, ctxDir), "build").stdout)
		st, err := store.Open(root)
		if err != nil {
			t.Fatal(err)
		}
		h, err := st.Resolve(context.Background(), "c:"+tc.comp)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := st.Image(h)
		cfgName, _ := img.ConfigName()
		if cfgName.String() != id {
			t.Errorf("%s: printed ID %s is not the tagged image's %s", tc.comp, id, cfgName)
		}
		m, _ := img.Manifest()
		last := m.Layers[len(m.Layers)-1]
		if string(last.MediaType) != tc.mediaType {
			t.Errorf("%s: layer media type %s", tc.comp, last.MediaType)
		}
		if tc.annotation != "" && last.Annotations[tc.annotation] == "" {
			t.Errorf("%s: layer lacks %s", tc.comp, tc.annotation)
		}
	}
}
