package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/store"
)

// The Debian half of the multi-platform acceptance: a Dockerfile on debian:bookworm whose RUN
// installs a package with apt-get, built for linux/amd64 and linux/arm64 (the arm64 RUN steps
// through qemu) and pushed as one index in the same command.
//
// debian:bookworm is an index of two minbase roots hack/deps.sh made with mmdebstrap from Debian's
// mirror (testutil.DebianImage). apt-get installs GNU hello from a flat repository this test serves
// on loopback (the two .debs hack/deps.sh downloaded and their Packages index), not from the mirror:
// under emulation apt's update of the mirror's lists (tens of MB of indexes parsed by an emulated
// apt) would take minutes, and the test must not depend on the mirror's state or reachability. The
// build runs with --network host so that its RUN steps reach the server on 127.0.0.1 (the default
// RUN network is a namespace of its own, where 127.0.0.1 is the step's own loopback), as one would
// with `docker build --network host`.

// debianSampleDockerfile installs the package as a Dockerfile for the real mirror would (update,
// install without recommends, drop the lists), then checks it: the program runs and dpkg recorded
// the package for the image's architecture.
const debianSampleDockerfile = `FROM debian:bookworm
ARG APT_REPO
RUN echo "deb [trusted=yes] $APT_REPO ./" > /etc/apt/sources.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends hello \
 && rm -rf /var/lib/apt/lists/*
RUN hello > /greeting && test "$(dpkg-query -W -f '${Architecture}' hello)" = "$(dpkg --print-architecture)"
CMD ["cat", "/greeting"]
`

// TestBuildMultiPlatformDebian builds the Debian sample for amd64 and arm64 with --push, checks the
// registry holds one index with both platforms, and runs each platform's image pulled from there
// (another root): uname -m, the architecture dpkg says it is and the one it installed hello for.
func TestBuildMultiPlatformDebian(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Arm64|prereq.Debian|prereq.Registry|prereq.Skopeo)
	if runtime.GOARCH != "amd64" {
		prereq.Skip(t, "the multi-platform tests build linux/amd64 and linux/arm64 and need an amd64 host")
	}
	root := t.TempDir()
	st, err := store.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	idx := testutil.MultiPlatformIndex(t, testutil.DebianImage(t, "amd64"), testutil.DebianImage(t, "arm64"))
	testutil.StoreIndex(t, st, idx, "docker.io/library/debian:bookworm")

	repo := httptest.NewServer(http.FileServer(http.Dir(prereq.DebianAptRepo)))
	defer repo.Close()
	reg := testutil.Registry(t)
	ref := reg + "/debapp:v1"
	ctxDir := writeContext(t, map[string]string{"Dockerfile": debianSampleDockerfile})
	start := time.Now()
	mustOK(t, hoist(t, root, "", "build", "--network", "host", "--platform", "linux/amd64,linux/arm64",
		"--build-arg", "APT_REPO="+repo.URL+"/", "--push", "-t", ref, ctxDir), "build --push")
	t.Logf("build --push of both platforms took %s", time.Since(start).Round(time.Second))

	// One index with both platforms (OCI, as the base's images are), each manifest present; as
	// skopeo reads it, too.
	if mt, ps := registryIndex(t, reg, "debapp", "v1"); mt != "application/vnd.oci.image.index.v1+json" || !slices.Equal(ps, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("debapp in the registry: %s %v, want an OCI index of linux/amd64 and linux/arm64", mt, ps)
	}
	raw, err := exec.Command("skopeo", "inspect", "--raw", "--tls-verify=false", "docker://"+ref).Output()
	var idxJSON struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Platform v1.Platform `json:"platform"`
		} `json:"manifests"`
	}
	if err != nil || json.Unmarshal(raw, &idxJSON) != nil {
		t.Fatalf("skopeo inspect --raw %s: %v\n%s", ref, err, raw)
	}
	var ps []string
	for _, m := range idxJSON.Manifests {
		ps = append(ps, m.Platform.String())
	}
	if idxJSON.MediaType != "application/vnd.oci.image.index.v1+json" || !slices.Equal(ps, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("skopeo inspect --raw %s: %s %v, want an OCI index of linux/amd64 and linux/arm64", ref, idxJSON.MediaType, ps)
	}

	// Run what was pushed: a root of its own pulls each platform's image from the registry.
	pulled := t.TempDir()
	for arch, machine := range map[string]string{"amd64": "x86_64", "arm64": "aarch64"} {
		plat := "linux/" + arch
		if out := mustOK(t, hoist(t, pulled, "", "run", "--rm", "--platform", plat, ref, "uname", "-m"), "run uname -m "+plat).stdout; out != machine+"\n" {
			t.Errorf("run --platform %s uname -m = %q, want %q", plat, out, machine+"\n")
		}
		check := `dpkg --print-architecture; dpkg-query -W -f '${Architecture} ${Status}\n' hello; hello; cat /greeting`
		want := arch + "\n" + arch + " install ok installed\nHello, world!\nHello, world!\n"
		if out := mustOK(t, hoist(t, pulled, "", "run", "--rm", "--platform", plat, ref, "sh", "-c", check), "run dpkg "+plat).stdout; out != want {
			t.Errorf("run --platform %s (dpkg architecture, hello's architecture and status, hello) = %q, want %q", plat, out, want)
		}
	}
}
