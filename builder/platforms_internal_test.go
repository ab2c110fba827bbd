package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/binfmt"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/parser"
)

const platformsDockerfile = `ARG GOVERSION=1
FROM --platform=$BUILDPLATFORM busybox AS build
RUN echo build
FROM build AS derived
RUN echo derived
FROM --platform=linux/s390x busybox AS pinned
COPY x /x
FROM busybox AS final
RUN echo final
COPY --from=derived /x /x
`

func parseFor(t *testing.T, p v1.Platform) *parser.Plan {
	t.Helper()
	plan, err := parser.Parse(strings.NewReader(platformsDockerfile), parser.Options{File: "Dockerfile", Platform: parserPlatform(p)})
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestStagePlatform follows BuildKit: FROM --platform (expanded), else the base stage's, else the
// target's; BUILDPLATFORM is the host's whatever the target.
func TestStagePlatform(t *testing.T) {
	arm64 := target{platform: v1.Platform{OS: "linux", Architecture: "arm64"}, explicit: true}
	plan := parseFor(t, arm64.platform)
	host := platform.Format(platform.Host())
	for i, want := range []string{host, host, "linux/s390x", "linux/arm64"} {
		p, err := stagePlatform(plan, i, arm64)
		if err != nil || platform.Format(p) != want {
			t.Errorf("stage %d: %s, %v; want %s", i, platform.Format(p), err, want)
		}
	}
	bad, err := parser.Parse(strings.NewReader("FROM --platform=linux/foo busybox\nRUN true\n"), parser.Options{File: "Dockerfile"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stagePlatform(bad, 0, arm64); err == nil || !strings.Contains(err.Error(), `Dockerfile:1`) || !strings.Contains(err.Error(), `unknown platform "linux/foo"`) {
		t.Errorf("bad FROM --platform: %v", err)
	}
}

// TestCheckEmulation: only stages with a RUN for a platform without an emulator fail, before work,
// naming the step, the platform and the package.
func TestCheckEmulation(t *testing.T) {
	dir := t.TempDir() // a binfmt_misc mount with nothing registered
	if err := os.WriteFile(filepath.Join(dir, "status"), []byte("enabled\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	b := &Builder{binfmt: binfmt.Checker{Dir: dir}}
	arm64 := target{platform: v1.Platform{OS: "linux", Architecture: "arm64"}, explicit: true}
	plan := parseFor(t, arm64.platform)
	// build and derived run on the build platform, pinned (s390x) has no RUN: fine.
	if err := b.checkEmulation(plan, []int{0, 1, 2}, arm64); err != nil {
		t.Errorf("native and RUN-less stages: %v", err)
	}
	err := b.checkEmulation(plan, []int{0, 1, 2, 3}, arm64)
	if err == nil || !strings.Contains(err.Error(), "Dockerfile:9: RUN echo final: cannot run programs for linux/arm64") || !strings.Contains(err.Error(), binfmt.Package) {
		t.Errorf("final stage for arm64 without an emulator: %v", err)
	}
	host := target{platform: platform.Host()}
	if err := b.checkEmulation(parseFor(t, host.platform), []int{0, 1, 2, 3}, host); err != nil {
		t.Errorf("host build: %v", err)
	}
}

// TestTargetConfig: an explicit target sets the config's platform (BuildKit); the implicit one keeps it.
func TestTargetConfig(t *testing.T) {
	st := &imageState{cfg: &v1.ConfigFile{OS: "linux", Architecture: "amd64", Variant: "v2"}}
	bd := &build{target: target{platform: v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, explicit: true}}
	got := bd.targetConfig(st).cfg
	if got.Architecture != "arm" || got.Variant != "v7" || st.cfg.Architecture != "amd64" {
		t.Errorf("explicit: %+v (the state must not change: %+v)", got, st.cfg)
	}
	bd = &build{target: target{platform: v1.Platform{OS: "linux", Architecture: "amd64"}, explicit: true}}
	if got := bd.targetConfig(st).cfg; got.Variant != "v2" {
		t.Errorf("same os/arch keeps the variant: %+v", got)
	}
	bd = &build{target: target{platform: platform.Host()}}
	if got := bd.targetConfig(st); got != st {
		t.Errorf("implicit target changed the config")
	}
}
