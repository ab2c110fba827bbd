package store

// Integration tests against the local docker daemon; they t.Skip when
// `docker info` fails. They only add and remove uniquely named images.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func docker(t *testing.T, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("docker", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func randomSuffix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func TestDockerLoadsSavedArchive(t *testing.T) {
	dockerAvailable(t)
	ctx := context.Background()
	s := newStore(t)
	suffix := randomSuffix()
	tagImported := "hoist-store-test/imported:" + suffix
	tagRandom := "localhost:5000/hoist-store-test/random:" + suffix
	if _, err := s.Import(ctx, bytes.NewReader(rootfsTar(t, map[string]string{"hello": "hi\n"})), tagImported, ImportOptions{
		Cmd: []string{"/hello"}, Env: []string{"A=b"}, WorkingDir: "/", Labels: map[string]string{"k": "v"},
		ExposedPorts: []string{"8080"}, Comment: "hoist test", Created: time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC),
	}); err != nil {
		t.Fatal(err)
	}
	storeRandom(t, s, tagRandom)
	archive := filepath.Join(t.TempDir(), "images.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, f, []string{tagImported, tagRandom}, FormatDockerArchive); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", tagImported, tagRandom).Run() })
	out := string(docker(t, "load", "-i", archive))
	for _, tag := range []string{tagImported, tagRandom} {
		if !strings.Contains(out, "Loaded image: "+tag) {
			t.Fatalf("docker load output %q lacks %s", out, tag)
		}
	}

	// docker's view of the loaded image matches ours, field for field.
	var theirs []map[string]any
	if err := json.Unmarshal(docker(t, "image", "inspect", tagImported), &theirs); err != nil || len(theirs) != 1 {
		t.Fatalf("docker inspect: %v", err)
	}
	ins, err := s.Inspect(ctx, tagImported)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ins)
	var ours map[string]any
	json.Unmarshal(b, &ours)
	compareInspectShape(t, ours, theirs[0])
	for _, k := range []string{"Id", "Created", "Architecture", "Os", "Comment", "Author", "Parent", "DockerVersion", "RootFS"} {
		if g, w := jsonString(ours[k]), jsonString(theirs[0][k]); g != w {
			t.Errorf("%s: ours %s, docker %s", k, g, w)
		}
	}
	if !slices.Contains(ins.RepoTags, tagImported) {
		t.Errorf("RepoTags %v", ins.RepoTags)
	}
	for _, k := range []string{"Cmd", "Env", "WorkingDir", "Labels", "ExposedPorts", "Entrypoint", "User"} {
		oc, _ := ours["Config"].(map[string]any)
		tc, _ := theirs[0]["Config"].(map[string]any)
		if g, w := jsonString(oc[k]), jsonString(tc[k]); g != w {
			t.Errorf("Config.%s: ours %s, docker %s", k, g, w)
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLoadDockerSave loads real `docker save` output (uncompressed layers)
// of an image already present in the daemon and checks the image ID.
func TestLoadDockerSave(t *testing.T) {
	dockerAvailable(t)
	const ref = "busybox:latest"
	var theirs []struct {
		ID     string `json:"Id"`
		RootFS struct{ Layers []string }
	}
	if err := json.Unmarshal(docker(t, "image", "inspect", ref), &theirs); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	docker(t, "save", "-o", archive, ref)
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	s := newStore(t)
	out, err := s.Load(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out, []string{ref}) {
		t.Fatalf("Load = %q", out)
	}
	ins, err := s.Inspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if ins.ID != theirs[0].ID || !slices.Equal(ins.RootFS.Layers, theirs[0].RootFS.Layers) {
		t.Fatalf("ours %s %v, docker %s %v", ins.ID, ins.RootFS.Layers, theirs[0].ID, theirs[0].RootFS.Layers)
	}
	m, _ := s.Resolve(ctx, ref)
	img, _ := s.Image(m)
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
}

// TestInspectMatchesDocker builds an image exercising every config field
// with docker, loads its `docker save` output and requires our Inspect to
// equal docker's on every field except those describing docker's own
// storage (sizes, GraphDriver, repo digests, tag time, and Parent, which
// docker keeps in its local metadata rather than in the image config).
func TestInspectMatchesDocker(t *testing.T) {
	dockerAvailable(t)
	tag := "hoist-store-test/config:" + randomSuffix()
	dockerfile := `FROM busybox:latest
LABEL a=b c="d e"
ENV X=1 Y="two words"
EXPOSE 80 53/udp
VOLUME /data
USER 1000:1000
WORKDIR /srv
HEALTHCHECK --interval=5s --timeout=3s --start-period=1s --retries=2 CMD ["true"]
STOPSIGNAL SIGTERM
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo hi
ENTRYPOINT ["/bin/echo"]
CMD ["hello"]
`
	build := exec.Command("docker", "build", "-q", "-t", tag, "-")
	build.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	build.Stdin = strings.NewReader(dockerfile)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", tag).Run() })
	archive := filepath.Join(t.TempDir(), "cfg.tar")
	docker(t, "save", "-o", archive, tag)
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	s := newStore(t)
	if _, err := s.Load(ctx, f); err != nil {
		t.Fatal(err)
	}
	ins, err := s.Inspect(ctx, tag)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ins)
	var ours map[string]any
	json.Unmarshal(b, &ours)
	var theirs []map[string]any
	if err := json.Unmarshal(docker(t, "image", "inspect", tag), &theirs); err != nil {
		t.Fatal(err)
	}
	compareInspectShape(t, ours, theirs[0])
	skip := map[string]bool{"Size": true, "VirtualSize": true, "GraphDriver": true, "RepoDigests": true, "Metadata": true, "Parent": true}
	for k, w := range theirs[0] {
		if skip[k] {
			continue
		}
		if g := jsonString(ours[k]); g != jsonString(w) {
			t.Errorf("%s:\n ours   %s\n docker %s", k, g, jsonString(w))
		}
	}
}
