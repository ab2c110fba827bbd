package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

// defaultPath is the PATH BuildKit gives RUN steps when the image sets none.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// imageState is an image under construction: its layers, config and the cache key of its last step.
// Steps never modify a state in place; they clone it.
type imageState struct {
	layers  []v1.Layer
	cfg     *v1.ConfigFile
	key     cache.Key
	docker  bool // the base used Docker media types; the result keeps them
	history []v1.History
	// env is what RUN and variable expansion see, as BuildKit's LLB state env: the config's Env with
	// the values of the ARGs declared so far set over it in instruction order (an ARG declared after
	// an ENV of the same name wins until the next ENV). nil means the config's Env.
	env []string
	// buildArgs are the ARGs declared in the stage and the stages it is based on, in order (BuildKit's
	// dispatchState.buildArgs), for the "|N K=V" prefix of RUN's history entry.
	buildArgs []declaredArg
	// created is when the newest content of this state was made: the base image's creation time, then
	// each step's cache record time. It makes the image's timestamps a function of its inputs.
	created time.Time
	// platform is what the stage is built for (its FROM --platform, its base stage's, or the target's).
	platform v1.Platform
}

func (s *imageState) clone() *imageState {
	c := *s
	c.layers = append([]v1.Layer(nil), s.layers...)
	c.history = append([]v1.History(nil), s.history...)
	c.env = append([]string(nil), s.env...)
	if s.env == nil {
		c.env = nil
	}
	c.buildArgs = append([]declaredArg(nil), s.buildArgs...)
	c.cfg = cloneConfig(s.cfg)
	return &c
}

func cloneConfig(c *v1.ConfigFile) *v1.ConfigFile {
	data, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("config does not marshal: %v", err)) // only plain data: cannot happen
	}
	var out v1.ConfigFile
	if err := json.Unmarshal(data, &out); err != nil {
		panic(fmt.Sprintf("config does not unmarshal: %v", err))
	}
	return &out
}

// stageRun is the state of one stage while its steps run.
type stageRun struct {
	bd     *build
	stage  *parser.Stage
	label  func(i int) string
	st     *imageState
	args   []string // the ARG values the stage can see, "K=V"
	shell  []string
	cmdSet bool
	stepID string // "<stage index>/<step index>" of the step being dispatched
	stepN  int    // its number in the progress output
	// stepSource is the step's instruction as written.
	stepSource string
	// step is the record of the filesystem step being run (set by fsStep).
	step *cache.StepRecord
	// linked is set while a COPY --link step runs (see fsStep).
	linked bool
	// noBuildkitSuffix is set while a WORKDIR runs: BuildKit writes its history entry without the
	// " # buildkit" of the other filesystem steps.
	noBuildkitSuffix bool
}

func (bd *build) runStage(ctx context.Context, stage *parser.Stage, n int) (*imageState, error) {
	steps := stage.Steps
	base, err := bd.resolveBase(ctx, stage)
	if err != nil {
		var pe *parser.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, parser.StepError(stage, err)
	}
	// ONBUILD triggers of the base run first, and are not inherited further.
	var triggers []parser.Step
	if len(base.cfg.Config.OnBuild) > 0 {
		triggers, err = parser.ParseTriggers(base.cfg.Config.OnBuild, bd.plan.File, stage.Loc())
		if err != nil {
			return nil, err
		}
		base.cfg.Config.OnBuild = nil
	}
	all := append(triggers, steps...)
	total := len(all) + 1
	sr := &stageRun{bd: bd, stage: stage, st: base, shell: []string{"/bin/sh", "-c"}}
	if len(base.cfg.Config.Shell) > 0 {
		sr.shell = append([]string(nil), base.cfg.Config.Shell...)
	}
	sr.label = func(i int) string { return bd.labelPrefix + stepLabel(n, len(bd.order), i, total) }
	bd.progress.printf("%s: %s\n", sr.label(1), stage.Source())
	for i, step := range all {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lbl := sr.label(i + 2)
		sr.stepID, sr.stepN, sr.stepSource = fmt.Sprintf("%d/%d", stage.Index, i-len(triggers)), i+2, step.Source()
		bd.progress.printf("%s: %s\n", lbl, firstLine(step.Source()))
		start := time.Now()
		cached, err := sr.dispatch(ctx, step)
		if err != nil {
			var pe *parser.Error
			if errors.As(err, &pe) {
				return nil, err
			}
			return nil, parser.StepError(step, err)
		}
		switch {
		case cached:
			bd.progress.printf("%s: CACHED\n", lbl)
		case bd.opts.Explain:
		case isFSStep(step):
			bd.progress.printf("%s: done in %.2fs\n", lbl, time.Since(start).Seconds())
		}
	}
	return sr.st, nil
}

func isFSStep(s parser.Step) bool {
	switch s.Kind() {
	case parser.KindRun, parser.KindCopy, parser.KindAdd, parser.KindWorkdir:
		return true
	}
	return false
}

// resolveBase returns the starting state of a stage: scratch, another stage, or an image, for the
// stage's platform (see platforms.go).
func (bd *build) resolveBase(ctx context.Context, stage *parser.Stage) (*imageState, error) {
	p, err := stagePlatform(bd.plan, stage.Index, bd.target)
	if err != nil {
		return nil, err
	}
	if stage.BaseStage >= 0 {
		st, err := bd.wait(ctx, stage.BaseStage)
		if err != nil {
			return nil, err
		}
		return st.clone(), nil
	}
	if strings.EqualFold(stage.Base, "scratch") {
		return scratchState(p), nil
	}
	return bd.imageState(ctx, stage.Base, p)
}

// scratchState is the empty image for platform p. The platform is part of the key: the same steps on
// scratch for two platforms are two results (their configs differ).
func scratchState(p v1.Platform) *imageState {
	return &imageState{
		cfg: &v1.ConfigFile{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
			RootFS: v1.RootFS{Type: "layers"}, Config: v1.Config{Env: []string{defaultPath}, WorkingDir: "/"}},
		key:      cache.NewKey("", "FROM").String("base", "scratch").String("platform", platform.Format(p)).Sum(),
		platform: p,
	}
}

// imageState is the state of an image named in FROM, COPY --from or RUN --mount from=, for platform
// p: the --build-context of that name if there is one, else the image (see loadedState).
func (bd *build) imageState(ctx context.Context, ref string, p v1.Platform) (*imageState, error) {
	if nc, ok := bd.namedContext(ref); ok {
		return bd.sharedState("context:"+ref+" "+platform.Format(p), func() (*imageState, error) { return bd.contextState(ctx, ref, nc, p) })
	}
	return bd.loadedState(ctx, ref, p)
}

// sharedState returns the state stored under key in this build, making it with mk the first time.
func (bd *build) sharedState(key string, mk func() (*imageState, error)) (*imageState, error) {
	bd.mu.Lock()
	if bd.images == nil {
		bd.images = map[string]*imageState{}
	}
	if st, ok := bd.images[key]; ok {
		bd.mu.Unlock()
		return st.clone(), nil
	}
	bd.mu.Unlock()
	st, err := mk()
	if err != nil {
		return nil, err
	}
	bd.mu.Lock()
	bd.images[key] = st
	bd.mu.Unlock()
	return st.clone(), nil
}

// loadedState loads (pulling if needed) an image by reference for platform p and returns its state;
// results are shared per build so each image is resolved once per platform.
func (bd *build) loadedState(ctx context.Context, ref string, p v1.Platform) (*imageState, error) {
	return bd.sharedState(ref+" "+platform.Format(p), func() (*imageState, error) {
		want := &p
		if !bd.target.explicit && platform.Match(p, platform.Host()) {
			want = nil // the implicit target takes the local image whatever its platform, as before
		}
		img, digest, err := bd.b.loadImage(ctx, ref, bd.opts.Registry, bd.opts.Pull, want, bd.progress)
		if err != nil {
			return nil, err
		}
		bd.recordBase(ref, digest, p)
		return stateFromImage(img, digest, p)
	})
}

// stateFromImage is the state of a base image used for platform p (the platform is part of the key:
// a single-platform image used as the base of two platforms gives two results).
func stateFromImage(img v1.Image, digest v1.Hash, p v1.Platform) (*imageState, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("reading image layers: %w", err)
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	return &imageState{
		layers:   layers,
		cfg:      cloneConfig(cfg),
		key:      cache.NewKey("", "FROM").String("manifest", digest.String()).String("platform", platform.Format(p)).Sum(),
		platform: p,
		docker:   strings.Contains(string(mt), "docker"),
		history:  append([]v1.History(nil), cfg.History...),
		created:  cfg.Created.Time,
	}, nil
}

// loadImage finds ref in the store or pulls it into the store, and returns it with its manifest digest.
// With want set, the image must be of that platform: a stored index gives its manifest for want; a
// stored image of another platform, or an index without one for want, is pulled again for want (the
// pulled image is not given ref's name when want is not this host's platform: the name keeps
// naming the host's image, which `run` and `images` show). want nil takes the stored image as it is
// (an index: the host's manifest).
func (b *Builder) loadImage(ctx context.Context, ref string, reg push.Options, pull bool, want *v1.Platform, pw *progress) (v1.Image, v1.Hash, error) {
	local := ""
	if h, err := b.store.Resolve(ctx, ref); err == nil && (!pull || strings.Contains(ref, "@")) {
		img, mh, err := b.store.ImageFor(h, want)
		if err == nil && want != nil {
			if have, perr := imagePlatform(img); perr != nil || !platform.Match(*want, have) {
				local, err = platform.Format(have), store.ErrNotFound
			}
		}
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return img, mh, err
		}
		if local == "" {
			local = "an index without it"
		}
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, v1.Hash{}, err
	}
	r, err := store.ParseName(ref)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	if b.cachedOnly {
		return nil, v1.Hash{}, ErrNotCachedOnly
	}
	if want != nil {
		reg.Platform = want
		reg.NoName = !platform.Match(*want, platform.Host())
		pw.printf("pulling %s for %s\n", r, platform.Format(*want))
	} else {
		pw.printf("pulling %s\n", r)
	}
	// Mirrors, parallel verified layer downloads, nothing stored unless all of it verified.
	pulled, err := push.Pull(ctx, b.store, r, reg)
	if err != nil {
		if local != "" {
			return nil, v1.Hash{}, fmt.Errorf("the stored %s is %s, not %s, and %w", ref, local, platform.Format(*want), err)
		}
		return nil, v1.Hash{}, err
	}
	stored, err := b.store.Image(pulled.Manifest)
	return stored, pulled.Manifest, err
}

// declaredArg is one ARG of a stage with the value it got (nil: none).
type declaredArg struct {
	key   string
	value *string
}

// env is what variable expansion and RUN see (a copy): the image's ENV with the stage's ARG values
// set over it in instruction order, as BuildKit's LLB state env.
func (sr *stageRun) env() []string { return sr.st.stateEnv() }

// stateEnv is a copy of the environment of st (see imageState.env).
func (st *imageState) stateEnv() []string {
	if st.env != nil {
		return append([]string(nil), st.env...)
	}
	return append([]string(nil), st.cfg.Config.Env...)
}

// setStateEnv sets k=v in the environment of st (see imageState.env).
func (st *imageState) setStateEnv(k, v string) {
	if st.env == nil {
		st.env = st.cfg.Config.Env
	}
	st.env = setEnv(st.env, k, v)
}

func (sr *stageRun) expand(word string) (string, error) {
	return sr.bd.plan.Expander().Expand(word, sr.env())
}

func (sr *stageRun) expandAll(words []string) ([]string, error) {
	out := make([]string, 0, len(words))
	for _, w := range words {
		v, err := sr.expand(w)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func setEnv(env []string, k, v string) []string {
	for i, e := range env {
		if strings.HasPrefix(e, k+"=") {
			out := append([]string(nil), env...)
			out[i] = k + "=" + v
			return out
		}
	}
	return append(append([]string(nil), env...), k+"="+v)
}

func lookupEnv(env []string, k string) (string, bool) {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, k+"="); ok {
			return v, true
		}
	}
	return "", false
}

// imagePlatform is the platform an image's config declares.
func imagePlatform(img v1.Image) (v1.Platform, error) {
	cfg, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, err
	}
	return v1.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}, nil
}
