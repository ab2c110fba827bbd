package builder

// Multi-platform builds, as BuildKit's dockerfile frontend does them (dockerfile2llb/platform.go and
// convert.go):
//
//   - every requested platform is a target: the Dockerfile is parsed for it (TARGETPLATFORM,
//     TARGETOS, TARGETARCH, TARGETVARIANT are its values; BUILDPLATFORM and friends are the host's);
//   - a stage's platform is its FROM --platform (expanded with the global ARGs), else the platform of
//     the stage it is based on, else the target's; base images are resolved for that platform;
//   - the final image's config gets the target's OS, architecture and variant when --platform was
//     given (BuildKit's rule for an explicit target), whatever stage produced it;
//   - identical steps of different targets (the same cache key: same platform, same inputs, such as a
//     `FROM --platform=$BUILDPLATFORM` stage that does not use the TARGET args) run once: BuildKit's
//     solver merges identical vertices of the targets' graphs, hoist's stepGroup makes the second
//     target wait for the first's result.
//
// RUN for a platform the kernel cannot run natively goes through a binfmt_misc emulator; without one,
// the build fails before it starts (checkEmulation).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/store"
)

// target is one platform a build produces an image for.
type target struct {
	platform v1.Platform
	// explicit: given with --platform (BuildKit's non-implicit target platform); the implicit target is
	// the host's, and an image base keeps whatever platform the local image has.
	explicit bool
}

// targets are the build's targets in the order given (the index lists them in that order).
func (o Options) targets() []target {
	if len(o.Platforms) == 0 {
		return []target{{platform: platform.Host()}}
	}
	out := make([]target, len(o.Platforms))
	for i, p := range o.Platforms {
		out[i] = target{platform: platform.Normalize(p), explicit: true}
	}
	return out
}

// parserPlatform is p as the parser's predefined ARGs take it.
func parserPlatform(p v1.Platform) parser.Platform {
	return parser.Platform{OS: p.OS, Arch: p.Architecture, Variant: p.Variant}
}

// stagePlatform is the platform stage i of plan runs for in a build for t (see the package comment).
func stagePlatform(plan *parser.Plan, i int, t target) (v1.Platform, error) {
	for seen := 0; seen <= len(plan.Stages); seen++ {
		st := plan.Stages[i]
		if st.Platform != "" {
			p, err := platform.Parse(st.Platform)
			if err != nil {
				return v1.Platform{}, &parser.Error{Loc: st.Loc(), Source: st.Source(), Err: fmt.Errorf("FROM --platform: %w", err)}
			}
			return p, nil
		}
		if st.BaseStage < 0 {
			return t.platform, nil
		}
		i = st.BaseStage
	}
	return t.platform, nil
}

// checkEmulation fails, before anything runs, when a needed stage has a RUN step for a platform
// whose programs this machine cannot execute (no binfmt_misc emulator): one error naming the step,
// the platform and the package to install.
func (b *Builder) checkEmulation(plan *parser.Plan, needed []int, t target) error {
	for _, i := range needed {
		var run parser.Step
		for _, s := range plan.Stages[i].Steps {
			if s.Kind() == parser.KindRun {
				run = s
				break
			}
		}
		if run == nil {
			continue
		}
		p, err := stagePlatform(plan, i, t)
		if err != nil {
			return err
		}
		if err := b.binfmt.Require(p); err != nil {
			return parser.StepError(run, err)
		}
	}
	return nil
}

// stepGroup lets the targets of one build share identical steps: the first to reach a key runs it,
// the others wait and then take its result from the cache. Safe for concurrent use.
type stepGroup struct {
	mu    sync.Mutex
	calls map[cache.Key]*stepCall
}

type stepCall struct {
	done chan struct{}
	ok   bool // the leader finished the step and its result is in the local cache
}

// join returns the call for key and whether the caller leads it (must run the step and call finish).
func (g *stepGroup) join(key cache.Key) (*stepCall, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		return c, false
	}
	if g.calls == nil {
		g.calls = map[cache.Key]*stepCall{}
	}
	c := &stepCall{done: make(chan struct{})}
	g.calls[key] = c
	return c, true
}

// finish ends a led call; a failed one is forgotten so a follower runs the step itself.
func (g *stepGroup) finish(key cache.Key, c *stepCall, ok bool) {
	g.mu.Lock()
	c.ok = ok
	if !ok {
		delete(g.calls, key)
	}
	g.mu.Unlock()
	close(c.done)
}

// wait waits for a call led by another target; it reports whether the result is in the cache.
func (c *stepCall) wait(ctx context.Context) (bool, error) {
	select {
	case <-c.done:
		return c.ok, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// targetConfig is final with the config's platform set to an explicit target's, as BuildKit does
// for a target given with --platform (the variant and OS version are replaced when given or when OS
// or architecture change); the implicit target keeps the stage's own.
func (bd *build) targetConfig(final *imageState) *imageState {
	if !bd.target.explicit {
		return final
	}
	tp := bd.target.platform
	st := final.clone()
	same := st.cfg.OS == tp.OS && st.cfg.Architecture == tp.Architecture
	st.cfg.OS, st.cfg.Architecture = tp.OS, tp.Architecture
	if tp.Variant != "" || !same {
		st.cfg.Variant = tp.Variant
	}
	if tp.OSVersion != "" || !same {
		st.cfg.OSVersion = tp.OSVersion
	}
	return st
}

// finishIndex writes each target's image, then the index listing them (Docker manifest list when
// every image has Docker media types, else an OCI index, as BuildKit's image exporter decides),
// records the index under the tags, exports one cache with every target's steps and records each
// target's build for the next one.
func finishIndex(ctx context.Context, bds []*build, finals []*imageState) (*Result, error) {
	b, opts, pw := bds[0].b, bds[0].opts, bds[0].progress
	im := &v1.IndexManifest{SchemaVersion: 2}
	imgs := map[v1.Hash]v1.Image{}
	docker := true
	for i, bd := range bds {
		st := bd.targetConfig(finals[i])
		res, err := b.commitImage(ctx, st, opts, false)
		if err != nil {
			return nil, err
		}
		img, err := b.store.Image(res.Manifest)
		if err != nil {
			return nil, err
		}
		mt, err := img.MediaType()
		if err != nil {
			return nil, err
		}
		raw, err := img.RawManifest()
		if err != nil {
			return nil, err
		}
		docker = docker && mt == types.DockerManifestSchema2
		imgs[res.Manifest] = img
		im.Manifests = append(im.Manifests, v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: res.Manifest,
			Platform: &v1.Platform{OS: st.cfg.OS, Architecture: st.cfg.Architecture, Variant: st.cfg.Variant, OSVersion: st.cfg.OSVersion}})
		pw.printf("%sexporting manifest %s done\n", bd.labelPrefix, res.Manifest)
	}
	im.MediaType = types.OCIImageIndex
	if docker {
		im.MediaType = types.DockerManifestList
	}
	idx, err := newBuiltIndex(im, imgs)
	if err != nil {
		return nil, err
	}
	h, err := b.store.WriteIndex(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("writing image index: %w", err)
	}
	names, err := normalizedTags(opts.Tags)
	if err != nil {
		return nil, err
	}
	if err := b.store.AddImage(ctx, h, names...); err != nil {
		return nil, err
	}
	// One cache export for all targets: their step keys differ by platform where their steps do.
	first := bds[0]
	for _, bd := range bds[1:] {
		first.exports = append(first.exports, bd.exports...)
		for id := range bd.usedMounts {
			if first.usedMounts == nil {
				first.usedMounts = map[string]bool{}
			}
			first.usedMounts[id] = true
		}
	}
	if err := first.exportCaches(ctx, first.targetStage); err != nil {
		return nil, err
	}
	for _, bd := range bds {
		if err := b.history.Save(bd.buildID, &cache.BuildRecord{Steps: bd.steps}, bd.prev); err != nil {
			return nil, err
		}
	}
	pw.printf("exporting manifest list %s done\n", h)
	for _, t := range opts.Tags {
		pw.printf("naming to %s done\n", t)
	}
	return &Result{ImageID: h, Manifest: h, ContextFilesRead: first.digests.Reads()}, nil
}

// normalizedTags parses the build's tags.
func normalizedTags(tags []string) ([]string, error) {
	var names []string
	for _, t := range tags {
		r, err := store.ParseName(t)
		if err != nil {
			return nil, fmt.Errorf("invalid tag %q: %w", t, err)
		}
		names = append(names, r.Name())
	}
	return names, nil
}

// builtIndex is the index of a multi-platform build: its manifest as BuildKit writes one (media
// type, size, digest, platform of each image; ggcr's mutate would add an artifactType BuildKit does
// not write) over the images just written.
type builtIndex struct {
	raw    []byte
	im     *v1.IndexManifest
	images map[v1.Hash]v1.Image
}

var _ v1.ImageIndex = (*builtIndex)(nil)

func newBuiltIndex(im *v1.IndexManifest, images map[v1.Hash]v1.Image) (*builtIndex, error) {
	raw, err := json.Marshal(im)
	if err != nil {
		return nil, err
	}
	return &builtIndex{raw: raw, im: im, images: images}, nil
}

// MediaType implements v1.ImageIndex.
func (x *builtIndex) MediaType() (types.MediaType, error) { return x.im.MediaType, nil }

// Digest implements v1.ImageIndex.
func (x *builtIndex) Digest() (v1.Hash, error) {
	h, _, err := v1.SHA256(bytes.NewReader(x.raw))
	return h, err
}

// Size implements v1.ImageIndex.
func (x *builtIndex) Size() (int64, error) { return int64(len(x.raw)), nil }

// IndexManifest implements v1.ImageIndex.
func (x *builtIndex) IndexManifest() (*v1.IndexManifest, error) { return x.im.DeepCopy(), nil }

// RawManifest implements v1.ImageIndex.
func (x *builtIndex) RawManifest() ([]byte, error) { return x.raw, nil }

// Image implements v1.ImageIndex.
func (x *builtIndex) Image(h v1.Hash) (v1.Image, error) {
	if img, ok := x.images[h]; ok {
		return img, nil
	}
	return nil, fmt.Errorf("image %s is not in the index: %w", h, store.ErrNotFound)
}

// ImageIndex implements v1.ImageIndex: a build's index nests none.
func (x *builtIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	return nil, fmt.Errorf("index %s is not in the index: %w", h, store.ErrNotFound)
}
