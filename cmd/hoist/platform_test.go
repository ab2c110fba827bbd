package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/store"
)

// Multi-platform builds. The base images are made here, not pulled: busybox:latest in the store is an
// OCI index of the host's busybox image (Debian's busybox-static, as every test's base) and an arm64
// one made the same way from Debian's arm64 busybox-static (testutil.Arm64BusyboxImage). The Go sample
// is a small program cross-compiled by the test with the Go toolchain that runs it (GOARCH=amd64 and
// arm64, CGO_ENABLED=0) and selected by TARGETARCH in a FROM --platform=$BUILDPLATFORM stage, the
// way Dockerfiles that cross-compile are written (no golang image is needed: none can be pulled here).

const helloGo = `package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

func main() {
	var u syscall.Utsname
	_ = syscall.Uname(&u)
	m := ""
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		m += string(rune(c))
	}
	built, _ := os.ReadFile("/built")
	fmt.Printf("hello from %s/%s on %s; %s", runtime.GOOS, runtime.GOARCH, m, built)
}
`

// goSampleDockerfile cross-compiles "natively" in a $BUILDPLATFORM stage: the shared RUN is the same
// step for both targets (same platform, same inputs) and must run once; the RUN after the TARGET
// ARGs differs per target and runs on the build platform without emulation.
//
// The expectations below are BuildKit's: v0.32.2 (`buildctl build --frontend dockerfile.v0 --opt
// platform=linux/amd64,linux/arm64 --output type=oci`, the OCI worker) ran this Dockerfile on the
// same context as one vertex each for `COPY bin/` and the shared RUN, two for the per-target RUN
// ("[linux/amd64->arm64 build 4/4]") and two for the final COPY; its arm64 image's /built reads
// "built on linux/amd64 (x86_64) for linux/arm64", its configs say linux/amd64 and linux/arm64, and
// its index lists amd64 then arm64.
const goSampleDockerfile = `FROM --platform=$BUILDPLATFORM busybox AS build
COPY bin/ /src/
RUN echo shared step > /shared
ARG TARGETPLATFORM TARGETARCH BUILDPLATFORM
RUN cp /src/hello-$TARGETARCH /hello && echo "built on $BUILDPLATFORM ($(uname -m)) for $TARGETPLATFORM" > /built
FROM scratch
COPY --from=build /hello /built /
ENTRYPOINT ["/hello"]
`

// emulatedDockerfile runs RUN for the target platform: arm64 goes through qemu.
const emulatedDockerfile = `FROM busybox
RUN uname -m > /arch
CMD ["cat", "/arch"]
`

// multiArchRoot is a hoist root whose busybox:latest is an index of the host's and arm64 busybox.
func multiArchRoot(t *testing.T) string {
	t.Helper()
	prereq.Require(t, prereq.Root|prereq.Busybox|prereq.Arm64)
	if runtime.GOARCH != "amd64" {
		// CI's machine is amd64: in strict mode another host fails here rather than passing untested.
		prereq.Skip(t, "the multi-platform tests build linux/amd64 and linux/arm64 and need an amd64 host")
	}
	root := t.TempDir()
	st, err := store.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	idx := testutil.MultiPlatformIndex(t, testutil.HostBusyboxImage(t), testutil.Arm64BusyboxImage(t))
	testutil.StoreIndex(t, st, idx, "docker.io/library/busybox:latest")
	return root
}

// goSampleContext writes the Go sample's context: the program built for amd64 and arm64 in bin/.
func goSampleContext(t *testing.T) string {
	t.Helper()
	dir := writeContext(t, map[string]string{"Dockerfile": goSampleDockerfile, "bin/": ""})
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(helloGo), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", filepath.Join(dir, "bin", "hello-"+arch), ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cross-compiling the sample for %s: %v\n%s", arch, err, out)
		}
	}
	return dir
}

// registryIndex GETs ref's manifest from a registry as `skopeo inspect --raw` does (Accept: the
// index and manifest types) and returns its media type and platforms.
func registryIndex(t *testing.T, reg, repo, tag string) (string, []string) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/v2/%s/manifests/%s", reg, repo, tag), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx struct {
		MediaType string `json:"mediaType"`
		Manifests []struct {
			Digest   string `json:"digest"`
			Platform struct {
				OS           string `json:"os"`
				Architecture string `json:"architecture"`
			} `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s/%s:%s: %d %v", reg, repo, tag, resp.StatusCode, err)
	}
	var ps []string
	for _, m := range idx.Manifests {
		ps = append(ps, m.Platform.OS+"/"+m.Platform.Architecture)
		// Every platform's manifest is in the registry before the index.
		hreq, _ := http.NewRequest("HEAD", fmt.Sprintf("http://%s/v2/%s/manifests/%s", reg, repo, m.Digest), nil)
		hreq.Header = req.Header
		h, err := http.DefaultClient.Do(hreq)
		if err != nil || h.StatusCode != 200 {
			t.Errorf("manifest %s of the index is not in the registry: %v %v", m.Digest, h, err)
		}
	}
	return idx.MediaType, ps
}

// TestBuildMultiPlatform is the acceptance of multi-platform builds: a cross-compiled Go sample and
// a sample with an emulated RUN, each built for linux/amd64 and linux/arm64 into one index, listed
// once, inspected as an index, pushed (manifests first, index last) and run per platform.
func TestBuildMultiPlatform(t *testing.T) {
	root := multiArchRoot(t)
	goCtx := goSampleContext(t)

	// --no-cache: the shared step runs once because the targets share it, not because of the cache.
	r := mustOK(t, hoist(t, root, "", "build", "--no-cache", "--platform", "linux/amd64,linux/arm64", "-t", "goapp", goCtx), "go sample")
	if n := strings.Count(r.stderr, "RUN echo shared step > /shared\n"); n != 2 {
		t.Errorf("the shared step is listed %d times, want once per target:\n%s", n, r.stderr)
	}
	// COPY bin/ and the shared RUN run once, for the first target to reach them; the other target
	// takes their results. The per-target RUN and the final COPY run once per target.
	if n, c := strings.Count(r.stderr, "cache miss: --no-cache"), strings.Count(r.stderr, ": CACHED\n"); n != 6 || c != 2 {
		t.Errorf("%d steps ran and %d were shared, want 6 and 2:\n%s", n, c, r.stderr)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		out := mustOK(t, hoist(t, root, "", "run", "--rm", "--platform", "linux/"+arch, "goapp"), "run goapp "+arch).stdout
		want := map[string]string{"amd64": "hello from linux/amd64 on x86_64; built on linux/amd64 (x86_64) for linux/amd64\n",
			"arm64": "hello from linux/arm64 on aarch64; built on linux/amd64 (x86_64) for linux/arm64\n"}[arch]
		if out != want {
			t.Errorf("run --platform linux/%s goapp = %q, want %q", arch, out, want)
		}
	}

	emuCtx := writeContext(t, map[string]string{"Dockerfile": emulatedDockerfile})
	mustOK(t, hoist(t, root, "", "build", "--platform", "linux/amd64", "--platform", "linux/arm64", "-t", "emu", emuCtx), "emulated sample")
	for args, want := range map[string]string{
		"run --rm emu":                                 "x86_64\n",
		"run --rm --platform linux/arm64 emu":          "aarch64\n",
		"run --rm --platform linux/arm64 emu uname -m": "aarch64\n",
		"run --rm --platform linux/amd64 emu uname -m": "x86_64\n",
	} {
		if out := mustOK(t, hoist(t, root, "", strings.Fields(args)...), args).stdout; out != want {
			t.Errorf("%s = %q, want %q", args, out, want)
		}
	}

	// images lists each index once; inspect shows the index and its manifests.
	imgs := mustOK(t, hoist(t, root, "", "images", "--format", "{{.Repository}}:{{.Tag}}"), "images").stdout
	if strings.Count(imgs, "goapp:latest\n") != 1 || strings.Count(imgs, "emu:latest\n") != 1 || strings.Count(imgs, "\n") != 3 {
		t.Errorf("images:\n%s", imgs)
	}
	var insp []store.ImageInspect
	out := mustOK(t, hoist(t, root, "", "image", "inspect", "goapp"), "inspect").stdout
	if err := json.Unmarshal([]byte(out), &insp); err != nil || len(insp) != 1 {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	var plats []string
	for _, m := range insp[0].Manifests {
		plats = append(plats, m.Descriptor.Platform.String())
	}
	if insp[0].Descriptor == nil || insp[0].ID != insp[0].Descriptor.Digest.String() || !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) || insp[0].Architecture != "amd64" {
		t.Errorf("inspect goapp: id %s, descriptor %+v, platforms %v, architecture %s", insp[0].ID, insp[0].Descriptor, plats, insp[0].Architecture)
	}

	reg := testutil.Registry(t)
	// The index type follows its images': OCI for the scratch-based Go sample, a Docker manifest
	// list for the sample on busybox (whose images have Docker media types, kept as single-platform
	// builds keep them).
	for name, want := range map[string]string{"goapp": "application/vnd.oci.image.index.v1+json",
		"emu": "application/vnd.docker.distribution.manifest.list.v2+json"} {
		mustOK(t, hoist(t, root, "", "push", name, reg+"/"+name+":v1"), "push "+name)
		mt, ps := registryIndex(t, reg, name, "v1")
		if mt != want || !slices.Equal(ps, []string{"linux/amd64", "linux/arm64"}) {
			t.Errorf("%s in the registry: %s %v, want %s with linux/amd64 and linux/arm64", name, mt, ps, want)
		}
	}
}

// maskedBinfmt runs hoist in a mount namespace where binfmt_misc is an empty tmpfs: hoist sees no
// emulator registered (the kernel's registrations stay, untouched, for everything else).
func maskedBinfmt(t *testing.T, root string, args ...string) result {
	t.Helper()
	cmd := hoistCmd(root, args...)
	script := `mount -t tmpfs none /proc/sys/fs/binfmt_misc && exec "$@"`
	full := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", script, "sh"}, cmd.Args...)...)
	full.Env = cmd.Env
	var so, se strings.Builder
	full.Stdout, full.Stderr = &so, &se
	err := full.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{so.String(), se.String(), code}
}

// TestBuildPlatformBadInput: an unknown platform, a RUN for a platform without an emulator, run of
// a platform without one: one clear error each, before anything is built or tagged. A cross-compiling
// build needs no emulator.
func TestBuildPlatformBadInput(t *testing.T) {
	root := multiArchRoot(t)
	emuCtx := writeContext(t, map[string]string{"Dockerfile": emulatedDockerfile})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--platform", "linux/foo", "-t", "bad", emuCtx}, `--platform: unknown platform "linux/foo": architecture "foo" is not one of`},
		{[]string{"build", "--platform", "windows/amd64", "-t", "bad", emuCtx}, "hoist builds and runs only linux images"},
		{[]string{"build", "--platform", "linux/arm64,linux/aarch64", "-t", "bad", emuCtx}, "platform linux/arm64 given twice"},
		{[]string{"run", "--rm", "--platform", "linux/foo", "busybox"}, `unknown platform "linux/foo"`},
		{[]string{"run", "--rm", "--pull", "never", "--platform", "linux/s390x", "busybox", "true"}, "busybox: no image for linux/s390x in the index (it has linux/amd64, linux/arm64)"},
	} {
		r := hoist(t, root, "", c.args...)
		if r.code != 125 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("hoist %s: exit %d, stderr %q; want 125 and %q", c.args, r.code, r.stderr, c.want)
		}
	}

	r := maskedBinfmt(t, root, "build", "--platform", "linux/amd64,linux/arm64", "-t", "bad", emuCtx)
	want := "Dockerfile:2: RUN uname -m > /arch: cannot run programs for linux/arm64: no emulator is registered for it in binfmt_misc (install Debian's qemu-user-static"
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "STEP") {
		t.Errorf("build without an emulator: exit %d, stderr:\n%s\nwant exit 1, before any step, with %q", r.code, r.stderr, want)
	}
	r = maskedBinfmt(t, root, "run", "--rm", "--pull", "never", "--platform", "linux/arm64", "busybox", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "image busybox is for linux/arm64: cannot run programs for linux/arm64") {
		t.Errorf("run without an emulator: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	// The cross-compiling sample runs nothing for arm64: it builds without an emulator.
	mustOK(t, maskedBinfmt(t, root, "build", "--platform", "linux/arm64", "-t", "cross", goSampleContext(t)), "cross-compiled build without an emulator")

	// A single-platform image asked for another platform: docker's words.
	r = hoist(t, root, "", "run", "--rm", "--pull", "never", "--platform", "linux/amd64", "cross")
	if want := "image with reference cross was found but does not match the specified platform: wanted linux/amd64, actual: linux/arm64"; r.code != 125 || !strings.Contains(r.stderr, want) {
		t.Errorf("run --platform linux/amd64 cross: exit %d, stderr %q; want 125 and %q", r.code, r.stderr, want)
	}

	imgs := mustOK(t, hoist(t, root, "", "images", "--format", "{{.Repository}}"), "images").stdout
	if strings.Contains(imgs, "bad") || !strings.Contains(imgs, "cross") {
		t.Errorf("images after the failed builds:\n%s", imgs)
	}
}

// TestBuildMultiPlatformCache: the cache keys include the platform, and --cache-to/--cache-from carry
// every platform's steps: a second root importing the cache builds the same index without running a
// step, and each platform's image is its own (run prints each architecture).
func TestBuildMultiPlatformCache(t *testing.T) {
	root := multiArchRoot(t)
	emuCtx := writeContext(t, map[string]string{"Dockerfile": emulatedDockerfile})
	cacheDir := filepath.Join(t.TempDir(), "cache")
	first := mustOK(t, hoist(t, root, "", "build", "-q", "--platform", "linux/amd64,linux/arm64", "--cache-to", "type=local,dest="+cacheDir, "-t", "emu", emuCtx), "build with --cache-to")

	other := multiArchRoot(t)
	r := mustOK(t, hoist(t, other, "", "build", "--platform", "linux/amd64,linux/arm64", "--cache-from", "type=local,src="+cacheDir, "-t", "emu", emuCtx), "build with --cache-from")
	if strings.Contains(r.stderr, "cache miss") || strings.Count(r.stderr, "imported from cache") != 2 {
		t.Errorf("the second build ran steps or did not import both platforms' RUN:\n%s", r.stderr)
	}
	if r.stdout != first.stdout {
		t.Errorf("index from the imported cache %q, want %q", r.stdout, first.stdout)
	}
	for p, want := range map[string]string{"linux/amd64": "x86_64\n", "linux/arm64": "aarch64\n"} {
		if out := mustOK(t, hoist(t, other, "", "run", "--rm", "--platform", p, "emu"), "run "+p).stdout; out != want {
			t.Errorf("run --platform %s emu = %q, want %q", p, out, want)
		}
	}
	// arm64 alone has the keys its part of the index build had: nothing runs.
	r = mustOK(t, hoist(t, other, "", "build", "--platform", "linux/arm64", "-t", "emu-arm", emuCtx), "arm64 alone")
	if !strings.Contains(r.stderr, "CACHED") || strings.Contains(r.stderr, "cache miss") {
		t.Errorf("arm64 alone after the index build should be cached:\n%s", r.stderr)
	}
}

// TestBuildPullsBasePerPlatform: a base whose stored image is of another platform is pulled for the
// stage's platform from its registry, untagged: the tag keeps naming this host's image.
func TestBuildPullsBasePerPlatform(t *testing.T) {
	src := multiArchRoot(t)
	reg := testutil.Registry(t)
	base := reg + "/multi/busybox:1"
	mustOK(t, hoist(t, src, "", "push", "busybox", base), "push the index")

	root := t.TempDir()
	mustOK(t, hoist(t, root, "", "pull", base), "pull the host's image")
	hostID := mustOK(t, hoist(t, root, "", "images", "-q", base), "images").stdout
	ctxDir := writeContext(t, map[string]string{"Dockerfile": "FROM " + base + "\nRUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]\n"})
	r := mustOK(t, hoist(t, root, "", "build", "--platform", "linux/arm64", "-t", "arm", ctxDir), "build for arm64")
	if !strings.Contains(r.stderr, "pulling "+base+" for linux/arm64") {
		t.Errorf("the arm64 base was not pulled:\n%s", r.stderr)
	}
	if out := mustOK(t, hoist(t, root, "", "run", "--rm", "arm"), "run arm").stdout; out != "aarch64\n" {
		t.Errorf("run arm = %q", out)
	}
	if id := mustOK(t, hoist(t, root, "", "images", "-q", base), "images").stdout; id != hostID {
		t.Errorf("the tag moved: %q, was %q", id, hostID)
	}
}

// TestRunPullsPlatform: run --platform of an image the store has only for another platform (or not
// at all) pulls that platform's image from the registry's index, as docker run does; run used to
// pull the host's image whatever --platform said and then refuse it. Docker 20.10.24, on this index
// pushed to a registry: `run --platform linux/arm64 REF uname -m` prints "Unable to find image 'REF'
// locally", pulls and prints aarch64; then linux/amd64 does the same and prints x86_64 (the tag
// moves to the pulled image), after which `--pull never --platform linux/arm64` is refused.
func TestRunPullsPlatform(t *testing.T) {
	src := multiArchRoot(t)
	reg := testutil.Registry(t)
	ref := reg + "/multi/busybox:run"
	mustOK(t, hoist(t, src, "", "push", "busybox", ref), "push the index")

	root := t.TempDir()
	for _, c := range []struct{ platform, want string }{{"linux/arm64", "aarch64\n"}, {"linux/amd64", "x86_64\n"}, {"linux/arm64", "aarch64\n"}} {
		r := mustOK(t, hoist(t, root, "", "run", "--rm", "--network", "none", "--platform", c.platform, ref, "uname", "-m"), "run --platform "+c.platform)
		if r.stdout != c.want || !strings.Contains(r.stderr, "Unable to find image '"+ref+"' locally") {
			t.Errorf("run --platform %s %s uname -m: stdout %q, want %q; stderr:\n%s", c.platform, ref, r.stdout, c.want, r.stderr)
		}
	}
	// The platform's image is there now: no pull.
	r := mustOK(t, hoist(t, root, "", "run", "--rm", "--network", "none", "--pull", "never", "--platform", "linux/arm64", ref, "uname", "-m"), "run --pull never")
	if r.stdout != "aarch64\n" || r.stderr != "" {
		t.Errorf("run --pull never --platform linux/arm64: %+v", r)
	}
}
