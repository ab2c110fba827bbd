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
	"strings"
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
// every image has Docker media types and no annotation or attestation needs OCI's, else an OCI index,
// as BuildKit's image exporter decides) and, with attestations, each image's attestation manifest
// after the images (attest.go); a single target with attestations comes here too, records the index under the stored outputs' names, exports one cache with
// every target's steps, records each target's build for the next one and runs the outputs on the
// index (annotations as BuildKit's image writer places them: manifest ones per platform,
// manifest-descriptor ones on the index's entries, index ones on the index).
func finishIndex(ctx context.Context, bds []*build, finals []*imageState) (*Result, error) {
	first := bds[0]
	b, opts, pw := first.b, first.opts, first.progress
	built := make([]string, len(bds))
	for i, bd := range bds {
		built[i] = platform.Format(bd.target.platform)
	}
	im := &v1.IndexManifest{SchemaVersion: 2}
	imgs := map[v1.Hash]v1.Image{}
	docker := true
	var set AnnotationSet
	fss := make([]platformFS, len(bds))
	for i, bd := range bds {
		var err error
		if set, err = opts.Annotations.For(built[i], built); err != nil {
			return nil, err
		}
		st := bd.targetConfig(finals[i])
		d, img, err := b.commitPlatform(ctx, st, opts, set)
		if err != nil {
			return nil, err
		}
		docker = docker && d.MediaType == types.DockerManifestSchema2 && len(set.ManifestDescriptor) == 0
		imgs[d.Digest] = img
		im.Manifests = append(im.Manifests, d)
		fss[i] = platformFS{st: finals[i]}
		if len(bds) > 1 {
			fss[i].dir = platformDir(built[i])
		}
		pw.printf("%sexporting manifest %s done\n", bd.labelPrefix, d.Digest)
	}
	if opts.Attest.Any() {
		if err := attachAttestations(ctx, bds, finals, im, imgs, fss); err != nil {
			return nil, err
		}
	}
	// The index levels do not depend on the platform: set has them from the last one.
	im.MediaType = types.OCIImageIndex
	if docker && len(set.Index) == 0 && len(set.IndexDescriptor) == 0 && !opts.Attest.Any() {
		im.MediaType = types.DockerManifestList
	}
	im.Annotations = cloneMap(set.Index)
	idx, err := newBuiltIndex(im, imgs)
	if err != nil {
		return nil, err
	}
	h, err := b.store.WriteIndex(ctx, idx)
	if err != nil {
		return nil, fmt.Errorf("writing image index: %w", err)
	}
	names, err := normalizedTags(storedNames(first.outputs))
	if err != nil {
		return nil, err
	}
	stored := anyStored(first.outputs)
	if stored {
		if err := b.store.AddImage(ctx, h, names...); err != nil {
			return nil, err
		}
	}
	if err := exportAllCaches(ctx, bds); err != nil {
		return nil, err
	}
	pw.printf("exporting manifest list %s done\n", h)
	if stored {
		for _, t := range names {
			pw.printf("naming to %s done\n", t)
		}
	}
	if first.uploader != nil {
		if err := first.uploader.Wait(); err != nil {
			return nil, err
		}
	}
	res := &Result{ImageID: h, Manifest: h, ContextFilesRead: first.digests.Reads()}
	desc := v1.Descriptor{MediaType: im.MediaType, Digest: h, Size: int64(len(idx.raw)), Annotations: cloneMap(set.IndexDescriptor)}
	if res.Metadata, err = first.export(ctx, exportee{res: res, desc: desc, fs: fss}, first.outputs); err != nil {
		return nil, err
	}
	return res, nil
}

// commitPlatform writes one platform's image of an index (unrecorded) with the manifest annotations
// of set and returns its descriptor in the index (with the manifest-descriptor annotations).
func (b *Builder) commitPlatform(ctx context.Context, st *imageState, opts Options, set AnnotationSet) (v1.Descriptor, v1.Image, error) {
	res, err := b.commitImage(ctx, st, opts, set.Manifest, nil, false)
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	img, err := b.store.Image(res.Manifest)
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	p := &v1.Platform{OS: st.cfg.OS, Architecture: st.cfg.Architecture, Variant: st.cfg.Variant, OSVersion: st.cfg.OSVersion}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: res.Manifest, Platform: p,
		Annotations: cloneMap(set.ManifestDescriptor)}, img, nil
}

// exportAllCaches exports one cache with every target's steps (their keys differ by platform where
// their steps do) and records each target's build for the next one.
func exportAllCaches(ctx context.Context, bds []*build) error {
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
		return err
	}
	for _, bd := range bds {
		if err := bd.b.history.Save(bd.buildID, &cache.BuildRecord{Steps: bd.steps}, bd.prev); err != nil {
			return err
		}
	}
	return nil
}

// platformDir is the subdirectory of a platform in a multi-platform filesystem output: BuildKit's
// exporter/local PlatformIDToPath (linux/arm/v7 is linux_arm_v7).
func platformDir(p string) string {
	return strings.NewReplacer("/", "_", `\`, "_", ":", "_").Replace(p)
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
