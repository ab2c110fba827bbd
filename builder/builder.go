// Package builder runs a parsed Dockerfile plan: it resolves base images, computes each step's cache
// key, runs the steps that miss (RUN in a run.Sandbox, COPY/ADD on an overlay mount), commits each
// filesystem change as a layer in the image store, and assembles and tags the final image.
package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/internal/binfmt"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// Options describe one build.
type Options struct {
	// ContextDir is the build context directory, unless ContextURL or ContextReader is set.
	ContextDir string
	// ContextURL is a remote context, fetched into the build's scratch dir and removed after: a git
	// URL (https://host/repo.git, git@host:repo, git://, ssh://, each with #ref:subdir) or an http(s)
	// URL of a tar archive (plain, gzip, bzip2, xz, zstd) or of a Dockerfile (a Dockerfile-only
	// context), as docker build decides.
	ContextURL string
	// ContextReader is a context on a stream (`-`): a tar archive, or, when its first 512 bytes are
	// not one, a Dockerfile with an empty context.
	ContextReader io.Reader
	// Env is the environment git runs in for git URLs (SSH_AUTH_SOCK, HOME for .netrc and credential
	// helpers, GIT_SSH_COMMAND, proxies); nil means this process's.
	Env []string
	// MaxDownloadSize and DownloadTimeout bound every download (an http context, ADD of a URL); zero
	// means DefaultMaxDownloadSize and DefaultDownloadTimeout.
	MaxDownloadSize int64
	DownloadTimeout time.Duration
	// Dockerfile is the Dockerfile's path ("" = ContextDir/Dockerfile; with a remote context a
	// relative path is inside it). DockerfileData, when non-nil, is used instead of reading it (for
	// `-f -`); Dockerfile then only names it in messages.
	Dockerfile     string
	DockerfileData []byte
	BuildArgs      map[string]string
	Target         string
	Tags           []string
	// Labels are added to the final image's config (--label).
	Labels map[string]string
	// Outputs are where the result goes (--output, --push, --load); none means the image store,
	// named by Tags. See Output.
	Outputs []Output
	// Annotations go on the image's manifest or descriptor (--annotation), with those of Outputs.
	Annotations Annotations
	// Stdout receives an output whose dest is "-".
	Stdout  io.Writer
	NoCache bool
	// NoCacheFilter lists stages (by name or index) whose steps ignore the cache.
	NoCacheFilter []string
	// CacheFrom and CacheTo import and export the build cache (registry or local OCI layout).
	CacheFrom []CacheSource
	CacheTo   []CacheTarget
	// Secrets are the values of --secret, by id, for RUN --mount=type=secret.
	Secrets map[string]Secret
	// SSH are the agents of --ssh, by id, for RUN --mount=type=ssh.
	SSH map[string]SSH
	// NamedContexts are the --build-context values by the key ParseBuildContext returns.
	NamedContexts map[string]NamedContext
	// Pull re-resolves base image tags in their registries instead of using local images.
	Pull bool
	// Explain computes every step's cache key and reports which steps would run and why, without
	// running anything or writing an image.
	Explain bool
	// Run is how RUN steps are sandboxed (docker build's --network, --add-host, --shm-size,
	// --ulimit, --allow).
	Run RunOptions
	// Progress receives the human-readable progress ("plain"); nil discards it.
	Progress io.Writer
	// Quiet suppresses progress entirely (-q).
	Quiet bool
	// SourceDateEpoch, when set, clamps layer mtimes and sets created times (reproducible builds).
	SourceDateEpoch *time.Time
	// Registry configures pulls of base images.
	Registry push.Options
	// Platforms are the platforms to build for (--platform): none builds for this host (the implicit
	// target, as BuildKit's); one gives that platform's image; several give an image index (manifest
	// list) with one image per platform, in this order, tagged with Tags. See platforms.go.
	Platforms []v1.Platform
	// Compression, when set, converts the built image's layers to it after the build (and after the
	// cache export, which keeps the layers as built) and moves Tags to the converted image, which is
	// the Result. CompressionKeep (the default) keeps the builder's gzip layers.
	Compression push.Compression
	// Attest are the attestations attached to the image (--sbom, --provenance, --attest): with any,
	// the result is an OCI index of each platform's image and its attestation manifest, as
	// BuildKit's image exporter writes it (see attest.go).
	Attest Attestations
}

// Result is what a successful build produced.
type Result struct {
	// ImageID is the config digest (docker's image ID).
	ImageID v1.Hash
	// Manifest is the manifest digest in the store.
	Manifest v1.Hash
	// ContextFilesRead is how many build-context files had to be read to compute cache keys (the
	// others' digests came from the stat cache).
	ContextFilesRead int64
	// Metadata is what buildx writes to --metadata-file for the outputs (containerimage.digest,
	// containerimage.config.digest, containerimage.descriptor, image.name); see WriteMetadata.
	Metadata map[string]any
}

// Builder builds images into one hoist root. It is safe for concurrent use, including by several
// processes sharing the root.
type Builder struct {
	root    string
	store   *store.Store
	snaps   *snapshot.Snapshotter
	cache   *cache.Store
	history *cache.History
	builds  string // root/builds: per-build scratch dirs
	// noOverlay forces the copy-based fallback even where overlayfs works (tests, odd filesystems).
	noOverlay bool
	driver    snapshot.Driver // WithStorageDriver; "" probes
	// binfmt tells which platforms' programs RUN can execute (natively or emulated).
	binfmt  binfmt.Checker
	emptyMu sync.Mutex
	empty   map[bool]*cache.Layer // the empty-tar layer blob, by Docker media types or not
	// cachedOnly: WithCachedOnly.
	cachedOnly bool
}

// Option configures a Builder.
type Option func(*Builder)

// WithoutOverlay makes every step run on a full copy of its rootfs instead of an overlay mount: the
// fallback hoist uses by itself where overlayfs is unavailable.
func WithoutOverlay() Option { return func(b *Builder) { b.noOverlay = true } }

// WithStorageDriver makes build steps use driver d (snapshot.Driver) instead of the probed one; a
// driver that cannot work here fails the first step that needs a rootfs.
func WithStorageDriver(d snapshot.Driver) Option { return func(b *Builder) { b.driver = d } }

// ErrNotCachedOnly is the error of a build made WithCachedOnly that needs more than its caches.
var ErrNotCachedOnly = errors.New("the build needs a step run, a mount or a pull")

// WithCachedOnly makes the build fail with ErrNotCachedOnly as soon as it would mount a filesystem
// (to run a step, or to read a stage or image for COPY --from, RUN --mount or an export) or pull a
// base image: only a build that the local image store and build cache fully answer completes. A
// caller that must mount in a private mount namespace tries such a build first in its own and
// enters the namespace only when it fails so: a build whose every step is cached needs none.
// Work done before the failure is only reading and filling caches (the context's file hashes,
// unpacked snapshots), which the build made next uses.
func WithCachedOnly() Option { return func(b *Builder) { b.cachedOnly = true } }

// WithBinfmt makes the builder read emulator registrations from c instead of the host's
// binfmt_misc mount (tests).
func WithBinfmt(c binfmt.Checker) Option { return func(b *Builder) { b.binfmt = c } }

// New opens the builder over a hoist root (creating its directories).
func New(root string, st *store.Store, opts ...Option) (*Builder, error) {
	b := &Builder{root: root, store: st, builds: filepath.Join(root, "builds")}
	for _, o := range opts {
		o(b)
	}
	snaps, err := snapshot.New(filepath.Join(root, "snapshots"), snapshot.WithDriver(b.driver))
	if err != nil {
		return nil, err
	}
	cs, err := cache.Open(filepath.Join(root, "cache"))
	if err != nil {
		return nil, err
	}
	hist, err := cache.OpenHistory(filepath.Join(root, "cache", "history"))
	if err != nil {
		return nil, err
	}
	b.snaps, b.cache, b.history = snaps, cs, hist
	if err := os.MkdirAll(b.builds, 0o700); err != nil {
		return nil, err
	}
	cleanStaleBuilds(b.builds)
	return b, nil
}

// Build runs one build. On error nothing is tagged; layers of steps that succeeded stay as cache.
func (b *Builder) Build(ctx context.Context, opts Options) (*Result, error) {
	started := time.Now()
	pw := newProgress(opts.Progress, opts.Quiet)
	var scratch *scratchDir
	if opts.ContextURL != "" || opts.ContextReader != nil {
		// A remote context is fetched into the build's scratch dir, so that it goes with it.
		var err error
		if scratch, err = newScratch(b.builds); err != nil {
			return nil, err
		}
		defer scratch.remove()
	}
	src, err := b.openSource(ctx, &opts, scratch, pw)
	if err != nil {
		return nil, err
	}
	targets := opts.targets()
	dfName, dfData, plans, err := loadPlans(opts, src, targets)
	if err != nil {
		return nil, err
	}
	outs, err := planOutputs(&opts, targets)
	if err != nil {
		return nil, err
	}
	needed := make([][]int, len(targets))
	for i, t := range targets {
		needed[i] = neededStages(opts, plans[i].plan, plans[i].target)
		if err := b.checkEmulation(plans[i].plan, notReplaced(opts, plans[i].plan, needed[i]), t); err != nil {
			return nil, err
		}
	}
	plan := plans[0].plan
	// Hold off garbage collection while this build writes blobs no image references yet.
	unlockGC, err := b.store.GCLock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlockGC()
	if scratch == nil {
		if scratch, err = newScratch(b.builds); err != nil {
			return nil, err
		}
		defer scratch.remove()
	}

	for _, w := range plan.Warnings {
		pw.printf("[warning] %s\n", w)
	}
	digests := cache.NewFileDigests()
	if !src.temporary {
		if digests, err = cache.OpenFileDigests(filepath.Join(b.root, "cache", "contexts"), src.ctx.dir); err != nil {
			return nil, err
		}
	}
	for _, f := range opts.NoCacheFilter {
		if _, ok := plan.StageByName(f, len(plan.Stages)); !ok {
			return nil, fmt.Errorf("--no-cache-filter: no stage named %q in %s", f, dfName)
		}
	}
	bds := make([]*build, len(targets))
	for i, t := range targets {
		buildID := cache.BuildID(src.id, dfName, opts.Target)
		if t.explicit {
			buildID = cache.BuildID(src.id, dfName, opts.Target+"\x00"+platform.Format(t.platform))
		}
		p := plans[i]
		bds[i] = &build{b: b, opts: opts, plan: p.plan, ctx: src.ctx, scratch: scratch, progress: pw, digests: digests,
			order: needed[i], results: map[int]*stageFuture{}, usedArgs: map[string]bool{},
			prev: b.history.Last(buildID), buildID: buildID, target: t, targetStage: p.target, outputs: outs,
			started: started, source: src, dfName: dfName, dfData: dfData}
		if len(targets) > 1 {
			bds[i].labelPrefix = "[" + platform.Format(t.platform) + "] "
		}
	}
	// Early upload: every target's final-stage layers go to the push repositories as they are made
	// (one uploader for all targets: a layer two targets share is sent once); the images and, for
	// several targets, the index are pushed at the end.
	if repos := earlyPushRepos(outs); len(repos) > 0 && opts.Compression == push.CompressionKeep && !opts.Explain {
		up := push.NewUploader(ctx, b.store, repos, opts.Registry, func(d v1.Hash) { pw.printf("pushed layer %s while building\n", d) })
		defer up.Abort()
		for _, bd := range bds {
			bd.uploader = up
		}
	}
	bds[0].loadCacheSources(ctx)
	if len(bds) > 1 {
		group := &stepGroup{}
		for _, bd := range bds {
			bd.group, bd.remote = group, bds[0].remote
		}
	}
	finals, err := runTargets(ctx, bds)
	// The context digests are worth keeping even when the build failed.
	if serr := digests.Save(); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	warnUnusedArgs(bds)
	if opts.Explain {
		return &Result{ContextFilesRead: digests.Reads()}, nil
	}
	if len(bds) == 1 && !opts.Attest.Any() {
		return bds[0].finish(ctx, finals[0])
	}
	return finishIndex(ctx, bds, finals)
}

// targetPlan is the Dockerfile parsed for one target platform, and its target stage.
type targetPlan struct {
	plan   *parser.Plan
	target int
}

// loadPlans reads the Dockerfile of the build's source once and parses it once per target platform
// (the predefined TARGET ARGs differ); it returns the Dockerfile's name and content too. A local
// context gets its .dockerignore; BuildKit applies none to a git, http or stdin-tar context
// (dockerui's MainContext returns such a context as fetched).
func loadPlans(opts Options, src *contextSource, targets []target) (string, []byte, []targetPlan, error) {
	dfName, data, err := readDockerfile(opts, src.ctx)
	if err != nil {
		return "", nil, nil, err
	}
	if !src.temporary {
		if err := src.ctx.loadIgnore(dfName, opts.Dockerfile); err != nil {
			return "", nil, nil, err
		}
	}
	out := make([]targetPlan, len(targets))
	for i, t := range targets {
		plan, stage, err := loadPlan(opts, dfName, data, t.platform)
		if err != nil {
			return "", nil, nil, err
		}
		out[i] = targetPlan{plan: plan, target: stage}
	}
	return dfName, data, out, nil
}

// runTargets builds every target concurrently and returns their final states, in order.
func runTargets(ctx context.Context, bds []*build) ([]*imageState, error) {
	if len(bds) == 1 {
		final, err := bds[0].run(ctx, bds[0].targetStage)
		return []*imageState{final}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	finals := make([]*imageState, len(bds))
	errs := make([]error, len(bds))
	var wg sync.WaitGroup
	for i, bd := range bds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if finals[i], errs[i] = bd.run(ctx, bd.targetStage); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	// The first real error, not a cancellation another target's failure caused.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return finals, nil
}

// loadPlan parses the Dockerfile (dfName, data) for platform p and picks the target stage.
func loadPlan(opts Options, dfName string, data []byte, p v1.Platform) (*parser.Plan, int, error) {
	plan, err := parser.Parse(bytes.NewReader(data), parser.Options{File: dfName, BuildArgs: opts.BuildArgs, Platform: parserPlatform(p)})
	if err != nil {
		return nil, 0, err
	}
	target, err := plan.Target(opts.Target)
	if err != nil {
		return nil, 0, err
	}
	return plan, target, nil
}

// finish writes the built image and names it in the store, exports the caches, records the build for
// the next one, if asked recompresses the image, and runs the outputs.
func (bd *build) finish(ctx context.Context, final *imageState) (*Result, error) {
	b, opts, pw := bd.b, bd.opts, bd.progress
	tp := platform.Format(bd.target.platform)
	set, err := opts.Annotations.For(tp, []string{tp})
	if err != nil {
		return nil, err
	}
	names, stored := storedNames(bd.outputs), anyStored(bd.outputs)
	res, err := b.commitImage(ctx, bd.targetConfig(final), opts, set.Manifest, names, stored)
	if err != nil {
		return nil, err
	}
	if err := bd.exportCaches(ctx, bd.targetStage); err != nil {
		return nil, err
	}
	if err := b.history.Save(bd.buildID, &cache.BuildRecord{Steps: bd.steps}, bd.prev); err != nil {
		return nil, err
	}
	res.ContextFilesRead = bd.digests.Reads()
	pw.printf("writing image %s done\n", res.ImageID)
	for _, t := range names {
		pw.printf("naming to %s done\n", t)
	}
	if opts.Compression != push.CompressionKeep {
		if res, err = b.recompress(ctx, res, opts.Compression, names, stored); err != nil {
			return nil, err
		}
	}
	if bd.uploader != nil {
		if err := bd.uploader.Wait(); err != nil {
			return nil, err
		}
	}
	desc, err := b.descriptor(res.Manifest, set.ManifestDescriptor)
	if err != nil {
		return nil, err
	}
	if res.Metadata, err = bd.export(ctx, exportee{res: res, desc: desc, fs: []platformFS{{st: final}}}, bd.outputs); err != nil {
		return nil, err
	}
	return res, nil
}

// planOutputs resolves opts' outputs (see resolveOutputs) for the build's targets before anything is
// built, so that a bad one fails the build at once; the merged annotations and compression go back
// into opts. With several targets the outputs act on the index (see finishIndex).
func planOutputs(opts *Options, targets []target) ([]Output, error) {
	outs, ann, comp, err := resolveOutputs(opts.Outputs, opts.Tags, opts.Annotations, opts.Compression)
	if err != nil {
		return nil, err
	}
	built := targetNames(targets)
	for _, p := range built {
		set, err := ann.For(p, built)
		if err != nil {
			return nil, err
		}
		if len(built) == 1 {
			if err := set.single(); err != nil {
				return nil, err
			}
		}
	}
	if len(built) > 1 || opts.Attest.Any() {
		if err := checkIndexOutputs(outs, comp, opts.Attest.Any()); err != nil {
			return nil, err
		}
	}
	for _, o := range outs {
		if o.Push {
			for _, n := range o.Names {
				if _, err := store.ParseName(n); err != nil {
					return nil, fmt.Errorf("--output: invalid name %q: %w", n, err)
				}
			}
		}
	}
	opts.Annotations, opts.Compression = ann, comp
	return outs, nil
}

// checkIndexOutputs refuses what a build whose result is an index (several platforms, or
// attestations) cannot export: a docker archive (BuildKit's docker exporter refuses an index with
// this message; with attestations BuildKit writes an OCI layout without manifest.json that only a
// containerd-store docker loads, hoist refuses it; type=docker without dest, --load, is the store,
// which keeps the index), and a recompression (hoist recompresses one image, not an index's).
func checkIndexOutputs(outs []Output, comp push.Compression, attest bool) error {
	what, fix := "several --platform values", "without it, or one platform at a time"
	if attest {
		what, fix = "attestations (--sbom, --provenance, --attest)", "without it, or without attestations"
	}
	if comp != push.CompressionKeep {
		return fmt.Errorf("--compression (or an output's compression=) cannot be combined with %s yet: build %s", what, fix)
	}
	for _, o := range outs {
		if o.Type != OutputDocker || o.Dest == "" {
			continue
		}
		if attest {
			return errors.New("--output type=docker,dest=...: a docker archive cannot hold attestations (use type=oci, or --sbom=false --provenance=false)")
		}
		return errors.New("--output type=docker,dest=...: docker exporter does not currently support exporting manifest lists (build one --platform, or use type=oci)")
	}
	return nil
}

// targetNames is the targets' platforms as os/arch[/variant].
func targetNames(targets []target) []string {
	out := make([]string, len(targets))
	for i, t := range targets {
		out[i] = platform.Format(t.platform)
	}
	return out
}

// CheckOutputs reports what is wrong with opts' outputs and annotations (what Build would refuse
// before building), so that a command can reject bad flags up front.
func CheckOutputs(opts Options) error {
	_, err := planOutputs(&opts, opts.targets())
	return err
}

// anyStored reports whether an output keeps the image in the store.
func anyStored(outs []Output) bool {
	for _, o := range outs {
		if o.stored() {
			return true
		}
	}
	return false
}

func readDockerfile(opts Options, bctx *buildContext) (string, []byte, error) {
	if opts.DockerfileData != nil {
		name := opts.Dockerfile
		if name == "" || name == "-" {
			name = "Dockerfile"
		}
		return name, opts.DockerfileData, nil
	}
	path := opts.Dockerfile
	if path == "" {
		path = filepath.Join(bctx.dir, "Dockerfile")
	}
	// A Dockerfile in the context is resolved inside it, as BuildKit reads it from its copy of the
	// context: a symlink cannot send the read outside.
	f, err := bctx.openFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("reading Dockerfile: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return "", nil, fmt.Errorf("reading Dockerfile: %w", err)
	}
	return filepath.Base(path), data, nil
}

// build is the state of one Build call.
type build struct {
	b        *Builder
	opts     Options
	plan     *parser.Plan
	ctx      *buildContext
	scratch  *scratchDir
	progress *progress
	digests  *cache.FileDigests
	order    []int

	mu       sync.Mutex
	results  map[int]*stageFuture
	usedArgs map[string]bool
	images   map[string]*imageState // images used by COPY --from / RUN --mount from=
	prev     *cache.BuildRecord     // the last build of this Dockerfile, to explain misses
	steps    []cache.StepRecord     // this build's filesystem steps, for the next one

	remote     map[cache.Key]remoteRecord // --cache-from results (read-only after loading)
	exports    []exported                 // this build's step results, for --cache-to
	usedMounts map[string]bool            // cache mount ids RUN steps used
	fetches    remoteFetches              // ADD's downloads and git checkouts
	outputs    []Output                   // resolved Options.Outputs
	uploader   *push.Uploader             // build --push: the target stage's layers, uploaded as made

	buildID     string     // the history record of this Dockerfile, target stage and platform
	target      target     // the platform this build produces an image for
	targetStage int        // the index of the target stage
	labelPrefix string     // "[linux/arm64] " before progress lines when several targets build
	group       *stepGroup // identical steps shared with the other targets (nil: one target)

	bases   []baseImage // the images this target's stages were based on, for the provenance
	started time.Time   // when the build started, for the provenance
	source  *contextSource
	dfName  string // the Dockerfile's name and content, for the provenance
	dfData  []byte
}

func (bd *build) recordExport(key cache.Key, rec cache.Record, stage int) {
	bd.mu.Lock()
	bd.exports = append(bd.exports, exported{key: key, rec: rec, stage: stage})
	bd.mu.Unlock()
}

func (bd *build) recordStep(s cache.StepRecord) {
	bd.mu.Lock()
	bd.steps = append(bd.steps, s)
	bd.mu.Unlock()
}

// noCacheFor reports whether the stage's steps must ignore the cache (--no-cache, --no-cache-filter).
func (bd *build) noCacheFor(st *parser.Stage) bool {
	if bd.opts.NoCache {
		return true
	}
	for _, f := range bd.opts.NoCacheFilter {
		if i, ok := bd.plan.StageByName(f, len(bd.plan.Stages)); ok && i == st.Index {
			return true
		}
	}
	return false
}

// explainMiss says why a step is not served from the cache.
func (bd *build) explainMiss(s cache.StepRecord, args map[string]bool, noCache bool) string {
	switch {
	case bd.opts.NoCache:
		return "--no-cache"
	case noCache:
		return "--no-cache-filter"
	}
	return bd.b.history.Explain(bd.prev.Step(&s), &s, args)
}

type stageFuture struct {
	done  chan struct{}
	state *imageState
	err   error
}

// run builds the needed stages, independent ones concurrently, and returns the target's final state.
func (bd *build) run(ctx context.Context, target int) (*imageState, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, i := range bd.order {
		bd.results[i] = &stageFuture{done: make(chan struct{})}
	}
	for n, i := range bd.order {
		go func(n, i int) {
			f := bd.results[i]
			defer close(f.done)
			if nc, ok := bd.replaced(i); ok {
				bd.progress.printf("%s[stage %d/%d] replaced by --build-context %s\n", bd.labelPrefix, n+1, len(bd.order), bd.plan.Stages[i].Name)
				p, err := stagePlatform(bd.plan, i, bd.target)
				if err == nil {
					f.state, err = bd.contextState(ctx, bd.plan.Stages[i].Name, nc, p)
				}
				if f.err = err; err != nil {
					cancel()
				}
				return
			}
			for _, d := range bd.plan.Stages[i].DependsOn {
				if _, err := bd.wait(ctx, d); err != nil {
					f.err = errDependency
					return
				}
			}
			f.state, f.err = bd.runStage(ctx, bd.plan.Stages[i], n+1)
			if f.err != nil {
				cancel()
			}
		}(n, i)
	}
	// Report the first real error in stage order (not a cancellation it caused elsewhere).
	var firstErr error
	for _, i := range bd.order {
		f := bd.results[i]
		<-f.done
		if f.err != nil && firstErr == nil && !errors.Is(f.err, errDependency) && !errors.Is(f.err, context.Canceled) {
			firstErr = f.err
		}
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	for _, i := range bd.order {
		if f := bd.results[i]; firstErr == nil && f.err != nil {
			firstErr = f.err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return bd.results[target].state, nil
}

var errDependency = errors.New("a stage this stage depends on failed")

func (bd *build) wait(ctx context.Context, i int) (*imageState, error) {
	f, ok := bd.results[i]
	if !ok {
		return nil, fmt.Errorf("stage %d is not part of this build", i)
	}
	select {
	case <-f.done:
		return f.state, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// warnUnusedArgs warns about the build args no target used.
func warnUnusedArgs(bds []*build) {
	var unused []string
	for k := range bds[0].opts.BuildArgs {
		used := parser.IsPredefinedArg(k)
		for _, bd := range bds {
			used = used || bd.usedArgs[k]
		}
		if !used {
			unused = append(unused, k)
		}
	}
	if len(unused) > 0 {
		bds[0].progress.printf("[warning] one or more build-args %v were not consumed\n", unused)
	}
}

func (bd *build) markArgUsed(k string) {
	bd.mu.Lock()
	bd.usedArgs[k] = true
	bd.mu.Unlock()
}

// fileDigest is the content digest of a context file, from the stat cache when it is unchanged.
func (bd *build) fileDigest(rel, host string, fi fs.FileInfo) (string, error) {
	return bd.digests.Digest(rel, host, fi)
}

// stepLabel is "[stage 1/2] STEP 3/7".
func stepLabel(stageN, stageM, i, n int) string {
	return fmt.Sprintf("[stage %d/%d] STEP %d/%d", stageN, stageM, i, n)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
