package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// Named context kinds (--build-context NAME=VALUE).
const (
	// ContextLocal is a directory: its files (less its .dockerignore) as one layer on an empty image.
	ContextLocal = "local"
	// ContextImage is docker-image://REF: an image, from the store or its registry.
	ContextImage = "docker-image"
	// ContextOCILayout is oci-layout://PATH[:TAG][@DIGEST]: an image in an OCI layout directory.
	ContextOCILayout = "oci-layout"
)

// NamedContext is one --build-context: what replaces a stage of that name, or an image of that name
// in FROM, COPY --from and RUN --mount from=, as BuildKit's dockerfile frontend does
// (frontend/dockerui/namedcontext.go).
type NamedContext struct {
	Kind string
	// Dir is the directory (local) or the OCI layout (oci-layout).
	Dir string
	// Ref is the image reference (docker-image).
	Ref string
	// Digest is the manifest or index digest in the layout (oci-layout).
	Digest v1.Hash
}

// contextKey is the key of a context name: its normalized reference (so alpine, alpine:latest and
// docker.io/library/alpine are one name, as BuildKit matches familiar names without ":latest").
func contextKey(n string) (string, error) {
	ref, err := store.ParseName(n)
	if err != nil {
		return "", err
	}
	return store.NormalizedName(ref), nil
}

// ParseBuildContext parses one --build-context NAME=VALUE as buildx does and returns the key the
// build looks it up by. VALUE is a directory, docker-image://REF or oci-layout://PATH[:TAG][@DIGEST]
// (TAG defaults to latest and is looked up in the layout's index.json).
func ParseBuildContext(spec string) (string, NamedContext, error) {
	n, v, ok := strings.Cut(spec, "=")
	if !ok || n == "" || v == "" {
		return "", NamedContext{}, fmt.Errorf("--build-context: invalid context value: %s, expected key=value", spec)
	}
	key, err := contextKey(n)
	if err != nil {
		return "", NamedContext{}, fmt.Errorf("--build-context: invalid context name %s: %w", n, err)
	}
	nc, err := parseContextValue(v)
	if err != nil {
		return "", NamedContext{}, fmt.Errorf("--build-context %s: %w", spec, err)
	}
	return key, nc, nil
}

func parseContextValue(v string) (NamedContext, error) {
	switch {
	case strings.HasPrefix(v, "docker-image://"):
		ref := strings.TrimPrefix(v, "docker-image://")
		if _, err := store.ParseName(ref); err != nil {
			return NamedContext{}, err
		}
		return NamedContext{Kind: ContextImage, Ref: ref}, nil
	case strings.HasPrefix(v, "oci-layout://"):
		return parseOCILayoutContext(strings.TrimPrefix(v, "oci-layout://"))
	case IsRemoteContext(v) || strings.HasPrefix(v, "target:") || strings.HasPrefix(v, "input:"):
		return NamedContext{}, fmt.Errorf("%s contexts are not supported: give a directory, docker-image:// or oci-layout://", strings.SplitN(v, ":", 2)[0])
	}
	abs, err := filepath.Abs(v)
	if err != nil {
		return NamedContext{}, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return NamedContext{}, fmt.Errorf("invalid context path: %w", err)
	}
	if !fi.IsDir() {
		return NamedContext{}, fmt.Errorf("invalid context path %s: not a directory", v)
	}
	return NamedContext{Kind: ContextLocal, Dir: abs}, nil
}

// parseOCILayoutContext resolves PATH[:TAG][@DIGEST] to a layout and a digest (buildx's rules).
func parseOCILayoutContext(s string) (NamedContext, error) {
	p, dig, hasDigest := strings.Cut(s, "@")
	p, tag, hasTag := strings.Cut(p, ":")
	if !hasTag {
		tag = "latest"
	}
	idx, err := layout.ImageIndexFromPath(p)
	if err != nil {
		return NamedContext{}, fmt.Errorf("reading OCI layout %s: %w", p, err)
	}
	nc := NamedContext{Kind: ContextOCILayout, Dir: p}
	if hasDigest {
		if nc.Digest, err = v1.NewHash(dig); err != nil {
			return NamedContext{}, fmt.Errorf("invalid digest %q: %w", dig, err)
		}
		return nc, nil
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return NamedContext{}, fmt.Errorf("reading OCI layout %s: %w", p, err)
	}
	for _, m := range im.Manifests {
		rn := m.Annotations["org.opencontainers.image.ref.name"]
		if rn == tag || strings.HasSuffix(rn, ":"+tag) {
			nc.Digest = m.Digest
			return nc, nil
		}
	}
	return NamedContext{}, fmt.Errorf("could not find tag %q in the OCI layout %s", tag, p)
}

// namedContext returns the --build-context for name, if any ("scratch" and "context" never have one).
func (bd *build) namedContext(name string) (NamedContext, bool) {
	return lookupContext(bd.opts, name)
}

func lookupContext(opts Options, name string) (NamedContext, bool) {
	if len(opts.NamedContexts) == 0 || strings.EqualFold(name, "scratch") || strings.EqualFold(name, "context") {
		return NamedContext{}, false
	}
	key, err := contextKey(name)
	if err != nil {
		return NamedContext{}, false
	}
	nc, ok := opts.NamedContexts[key]
	return nc, ok
}

// contextState is the state a named context stands for, used for platform p (an image is resolved
// for it; a directory is the same files for every platform).
func (bd *build) contextState(ctx context.Context, name string, nc NamedContext, p v1.Platform) (*imageState, error) {
	var st *imageState
	var err error
	switch nc.Kind {
	case ContextImage:
		st, err = bd.loadedState(ctx, nc.Ref, p)
	case ContextOCILayout:
		st, err = bd.layoutState(ctx, nc, p)
	case ContextLocal:
		st, err = bd.dirState(ctx, nc.Dir, p)
	default:
		err = fmt.Errorf("unknown kind %q", nc.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("--build-context %s: %w", name, err)
	}
	return st, nil
}

// layoutState stores the image of an OCI layout (platform p's, when the digest is an index).
func (bd *build) layoutState(ctx context.Context, nc NamedContext, p v1.Platform) (*imageState, error) {
	lp, err := layout.FromPath(nc.Dir)
	if err != nil {
		return nil, err
	}
	img, err := layoutImage(lp, nc.Digest, p)
	if err != nil {
		return nil, err
	}
	h, err := bd.b.store.WriteImage(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("storing the image of %s: %w", nc.Dir, err)
	}
	stored, err := bd.b.store.Image(h)
	if err != nil {
		return nil, err
	}
	return stateFromImage(stored, h, p)
}

func layoutImage(p layout.Path, d v1.Hash, want v1.Platform) (v1.Image, error) {
	if img, err := p.Image(d); err == nil {
		if _, err := img.Manifest(); err == nil {
			if mt, _ := img.MediaType(); !mt.IsIndex() {
				return img, nil
			}
		}
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	sub, err := idx.ImageIndex(d)
	if err != nil {
		return nil, fmt.Errorf("no image or index %s in the layout: %w", d, err)
	}
	im, err := sub.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, m := range im.Manifests {
		if m.Platform != nil && platform.Match(want, *m.Platform) && m.MediaType.IsImage() {
			return sub.Image(m.Digest)
		}
	}
	return nil, fmt.Errorf("index %s has no image for %s", d, platform.Format(want))
}

// dirState is an empty image plus one layer of the directory's files, less what its .dockerignore
// excludes; owners, modes and mtimes as on disk. Its key is the layer's diff ID, so an unchanged
// directory keeps the steps after it cached.
func (bd *build) dirState(ctx context.Context, dir string, p v1.Platform) (*imageState, error) {
	bc := &buildContext{dir: dir, given: dir}
	if err := bc.loadIgnore("", ""); err != nil {
		return nil, err
	}
	exclude := func(rel string) bool {
		fi, err := os.Lstat(filepath.Join(dir, rel))
		return err == nil && bc.hidden(rel, fi)
	}
	st := scratchState(p)
	layer, _, err := bd.b.commitTar(ctx, false, nil, snapshot.DiffOptions{Exclude: exclude},
		func(w io.Writer, o snapshot.DiffOptions) error { return snapshot.WriteDiff(ctx, dir, w, o) })
	if err != nil {
		return nil, err
	}
	if layer == nil { // an empty directory
		st.key = cache.NewKey("", "FROM").String("context-dir", "empty").String("platform", platform.Format(p)).Sum()
		return st, nil
	}
	l, err := layerOf(bd.b.store, layer)
	if err != nil {
		return nil, err
	}
	st.layers = []v1.Layer{l}
	// The platform is part of the key, as for scratch: the steps after it differ per platform.
	st.key = cache.NewKey("", "FROM").String("context-dir", layer.DiffID).String("platform", platform.Format(p)).Sum()
	st.cfg.RootFS.DiffIDs = nil // the image config's rootfs is rebuilt from the layers
	return st, nil
}

// replaced reports whether stage i is replaced by a --build-context of its name (BuildKit: the
// stage's instructions are then ignored).
func (bd *build) replaced(i int) (NamedContext, bool) {
	return replacedStage(bd.opts, bd.plan, i)
}

func replacedStage(opts Options, plan *parser.Plan, i int) (NamedContext, bool) {
	st := plan.Stages[i]
	if st.Name == "" {
		return NamedContext{}, false
	}
	return lookupContext(opts, st.Name)
}

// neededStages is the stages the target needs, dependencies first, as plan.Needed, except that a
// replaced stage needs nothing.
func neededStages(opts Options, plan *parser.Plan, target int) []int {
	seen := map[int]bool{}
	var order []int
	var visit func(int)
	visit = func(i int) {
		if seen[i] {
			return
		}
		seen[i] = true
		if _, ok := replacedStage(opts, plan, i); !ok {
			for _, d := range plan.Stages[i].DependsOn {
				visit(d)
			}
		}
		order = append(order, i)
	}
	visit(target)
	return order
}

// notReplaced is the stages of needed whose steps run (those no --build-context replaces).
func notReplaced(opts Options, plan *parser.Plan, needed []int) []int {
	var out []int
	for _, i := range needed {
		if _, ok := replacedStage(opts, plan, i); !ok {
			out = append(out, i)
		}
	}
	return out
}
