package container

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/hoistbuild/hoist/internal/binfmt"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/store"
)

// TestImageForPullsThePlatform: when the store has no image of the name for --platform (none at
// all, or one of another platform), --pull missing asks the puller for that platform's image (nil:
// the host's), as docker run --platform pulls it; the pulled image is the one returned.
func TestImageForPullsThePlatform(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(arch string) {
		img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{OS: "linux", Architecture: arch, RootFS: v1.RootFS{Type: "layers"}})
		if err != nil {
			t.Fatal(err)
		}
		h, err := st.WriteImage(ctx, img)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.AddImage(ctx, h, "docker.io/library/app:latest"); err != nil {
			t.Fatal(err)
		}
	}
	var asked []string
	puller := func(_ context.Context, ref string, p *v1.Platform) error {
		if p == nil {
			asked = append(asked, ref+" host")
			put("s390x")
			return nil
		}
		asked = append(asked, ref+" "+platform.Format(*p))
		put(p.Architecture)
		return nil
	}
	// Each case's architecture is "native" (the checker is told so), whatever this machine is.
	r := &Runtime{store: st, binfmt: binfmt.Checker{Dir: t.TempDir()}}
	for _, c := range []struct{ platform, wantArch, wantAsked string }{
		{"", "s390x", "app host"},                   // nothing stored: the host's image
		{"linux/s390x", "s390x", ""},                // stored for the platform: no pull
		{"linux/arm64", "arm64", "app linux/arm64"}, // stored for another: that platform's
		{"linux/s390x", "s390x", "app linux/s390x"}, // and back
	} {
		asked = nil
		r.binfmt.Arch = c.wantArch
		img, _, err := r.imageFor(ctx, CreateOptions{Image: "app", Platform: c.platform, Pull: PullMissing, Puller: puller})
		if err != nil {
			t.Fatalf("--platform %q: %v", c.platform, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(asked, ", "); got != c.wantAsked {
			t.Errorf("--platform %q: pulled %q, want %q", c.platform, got, c.wantAsked)
		}
		if cf.Architecture != c.wantArch {
			t.Errorf("--platform %q: image for %s, want %s", c.platform, cf.Architecture, c.wantArch)
		}
	}
}
