package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// TestBuildMultiPlatformOutputs: the outputs of a multi-platform build act on the index, as BuildKit's
// exporters do (exporter/containerimage/writer.go, exporter/oci, exporter/local and exporter/tar of
// BuildKit v0.34, read for these expectations): --push sends the images by digest and then the index;
// --metadata-file holds the index's digest and descriptor (no config digest: an index has none);
// index annotations go on the index (which is then OCI); type=oci holds the whole index; type=local
// and type=tar put each platform's filesystem in a directory named after it (linux_amd64). A docker
// archive of several platforms and a recompression are refused before anything is built.
func TestBuildMultiPlatformOutputs(t *testing.T) {
	root := multiArchRoot(t)
	emuCtx := writeContext(t, map[string]string{"Dockerfile": emulatedDockerfile})
	reg := testutil.Registry(t)
	tmp := t.TempDir()
	md, ociTar, fsTar, local := filepath.Join(tmp, "md.json"), filepath.Join(tmp, "emu.oci.tar"), filepath.Join(tmp, "fs.tar"), filepath.Join(tmp, "out")
	ref := reg + "/multi/emu:v1"
	mustOK(t, hoist(t, root, "", "build", "-q", "--platform", "linux/amd64,linux/arm64", "-t", ref, "--push",
		"--metadata-file", md, "--annotation", "index:org.opencontainers.image.title=emu",
		"-o", "type=oci,dest="+ociTar, "-o", "type=local,dest="+local, "-o", "type=tar,dest="+fsTar, emuCtx), "multi-platform build with outputs")

	// The registry: the index (OCI: it has annotations) with both images, each pushed before it.
	mt, ps := registryIndex(t, reg, "multi/emu", "v1")
	if mt != "application/vnd.oci.image.index.v1+json" || !slices.Equal(ps, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("pushed index: %s %v", mt, ps)
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/multi/emu/manifests/v1", reg), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	served := resp.Header.Get("Docker-Content-Digest")
	if !strings.Contains(string(body), `"annotations":{"org.opencontainers.image.title":"emu"}`) {
		t.Errorf("the index lacks its annotation: %s", body)
	}

	// --metadata-file: the index, as buildx records a multi-platform image.
	var meta map[string]json.RawMessage
	data, err := os.ReadFile(md)
	if err != nil || json.Unmarshal(data, &meta) != nil {
		t.Fatalf("metadata file: %v\n%s", err, data)
	}
	var desc struct {
		MediaType string
		Digest    string
		Size      int64
	}
	_ = json.Unmarshal(meta["containerimage.descriptor"], &desc)
	if string(meta["containerimage.digest"]) != `"`+served+`"` || desc.Digest != served || desc.Size != int64(len(body)) ||
		desc.MediaType != "application/vnd.oci.image.index.v1+json" || string(meta["image.name"]) != `"`+ref+`"` {
		t.Errorf("metadata %s; the registry serves %s (%d bytes)", data, served, len(body))
	}
	if _, ok := meta["containerimage.config.digest"]; ok {
		t.Errorf("metadata of an index has a config digest: %s", data)
	}

	// type=oci: index.json names the index, whose images' blobs are all in the archive.
	entries := tarFiles(t, ociTar)
	var layoutIndex struct {
		Manifests []struct {
			MediaType string
			Digest    string
		}
	}
	if err := json.Unmarshal(entries["index.json"], &layoutIndex); err != nil || len(layoutIndex.Manifests) != 1 ||
		layoutIndex.Manifests[0].Digest != served || layoutIndex.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("OCI layout index.json: %v %s", err, entries["index.json"])
	}
	if idx, ok := entries["blobs/sha256/"+strings.TrimPrefix(served, "sha256:")]; !ok || string(idx) != string(body) {
		t.Errorf("the OCI layout lacks the index blob or holds another one")
	}
	for _, d := range digestsIn(body) {
		if _, ok := entries["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")]; !ok {
			t.Errorf("the OCI layout lacks the image manifest %s", d)
		}
	}

	// type=local and type=tar: one directory per platform.
	fsEntries := tarFiles(t, fsTar)
	for dir, want := range map[string]string{"linux_amd64": "x86_64\n", "linux_arm64": "aarch64\n"} {
		if got, err := os.ReadFile(filepath.Join(local, dir, "arch")); err != nil || string(got) != want {
			t.Errorf("type=local %s/arch = %q, %v; want %q", dir, got, err, want)
		}
		if got := string(fsEntries[dir+"/arch"]); got != want {
			t.Errorf("type=tar %s/arch = %q, want %q", dir, got, want)
		}
		if _, ok := fsEntries[dir+"/bin/busybox"]; !ok {
			t.Errorf("type=tar lacks %s/bin/busybox", dir)
		}
	}
	if _, err := os.Stat(filepath.Join(local, "arch")); err == nil {
		t.Errorf("type=local wrote the filesystem outside the platform directories")
	}

	// One --platform is no index: the filesystem is not split (BuildKit's exporters split a map only).
	one := filepath.Join(tmp, "one")
	mustOK(t, hoist(t, root, "", "build", "-q", "--platform", "linux/arm64", "-o", "type=local,dest="+one, emuCtx), "one platform to type=local")
	if got, err := os.ReadFile(filepath.Join(one, "arch")); err != nil || string(got) != "aarch64\n" {
		t.Errorf("type=local of one platform: arch = %q, %v", got, err)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-o", "type=docker,dest=" + filepath.Join(tmp, "d.tar")}, "docker exporter does not currently support exporting manifest lists"},
		{[]string{"--compression", "zstd", "-t", "x"}, "cannot be combined with several --platform values"},
		{[]string{"-o", "type=image,name=x,compression=zstd"}, "cannot be combined with several --platform values"},
		{[]string{"--annotation", "manifest[linux/s390x]:a=b", "-t", "x"}, "no platform linux/s390x found in source"},
	} {
		args := append([]string{"build", "--platform", "linux/amd64,linux/arm64"}, append(c.args, emuCtx)...)
		r := hoist(t, root, "", args...)
		if r.code != 125 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "STEP") {
			t.Errorf("hoist %q: exit %d, stderr %q; want 125 and %q before any step", args, r.code, r.stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, "d.tar")); err == nil {
		t.Errorf("the refused docker archive was written")
	}
}

// digestsIn lists the manifest digests of an index.
func digestsIn(index []byte) []string {
	var im struct{ Manifests []struct{ Digest string } }
	_ = json.Unmarshal(index, &im)
	var out []string
	for _, m := range im.Manifests {
		out = append(out, m.Digest)
	}
	return out
}
