package builder

import (
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/hoistbuild/hoist/internal/platform"
)

// Annotation levels, BuildKit's: where an annotation goes.
const (
	// AnnotationManifest is the image manifest (the default).
	AnnotationManifest = "manifest"
	// AnnotationManifestDescriptor is the manifest's descriptor (in an index, in the OCI layout's
	// index.json, in --metadata-file's containerimage.descriptor).
	AnnotationManifestDescriptor = "manifest-descriptor"
	// AnnotationIndex and AnnotationIndexDescriptor need an index (a multi-platform build).
	AnnotationIndex           = "index"
	AnnotationIndexDescriptor = "index-descriptor"
)

// Annotation is one annotation of the built image.
type Annotation struct {
	Type string // one of the Annotation* levels
	// Platform, when set, limits a manifest annotation to that platform's image (os/arch[/variant]).
	Platform string
	Key      string
	Value    string
}

// Annotations are the annotations of a build (--annotation and the outputs' annotation.* keys), in
// the order given; a later one with the same level, platform and key wins.
type Annotations []Annotation

// AnnotationSet is the annotations of one image, by level.
type AnnotationSet struct {
	Manifest, ManifestDescriptor, Index, IndexDescriptor map[string]string
}

var (
	// buildx's --annotation: [TYPE[PLATFORM],...:]KEY=VALUE.
	flagAnnotationType = regexp.MustCompile(`^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$`)
	// BuildKit's exporter key: annotation[-TYPE][[PLATFORM]].KEY.
	keyAnnotation = regexp.MustCompile(`^annotation(?:-([a-z-]+))?(?:\[([A-Za-z0-9_/-]+)\])?\.(\S+)$`)
)

// ParseAnnotation parses one --annotation value as buildx does: KEY=VALUE goes on the manifest;
// "index,manifest-descriptor:KEY=VALUE" names the levels; "manifest[linux/arm64]:KEY=VALUE" limits it
// to one platform.
func ParseAnnotation(s string) (Annotations, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		return nil, fmt.Errorf("--annotation: invalid annotation %q, expected key=value", s)
	}
	types, key, ok := strings.Cut(k, ":")
	if !ok {
		return Annotations{{Type: AnnotationManifest, Key: k, Value: v}}, nil
	}
	var out Annotations
	for _, tp := range strings.Split(types, ",") {
		g := flagAnnotationType.FindStringSubmatch(tp)
		if g == nil {
			return nil, fmt.Errorf("--annotation %q: invalid annotation type %q, expected type and optional platform in square brackets", s, tp)
		}
		a, err := newAnnotation(g[1], g[2], key, v)
		if err != nil {
			return nil, fmt.Errorf("--annotation %q: %w", s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// addKey adds an output's annotation key (annotation.KEY, annotation-index.KEY, ...).
func (as *Annotations) addKey(k, v string) error {
	g := keyAnnotation.FindStringSubmatch(k)
	if g == nil {
		return fmt.Errorf("key %q: invalid annotation key, expected annotation[-TYPE][[PLATFORM]].KEY", k)
	}
	tp := g[1]
	if tp == "" {
		tp = AnnotationManifest
	}
	a, err := newAnnotation(tp, g[2], g[3], v)
	if err != nil {
		return fmt.Errorf("key %q: %w", k, err)
	}
	*as = append(*as, a)
	return nil
}

func newAnnotation(tp, plat, key, value string) (Annotation, error) {
	switch tp {
	case AnnotationManifest, AnnotationManifestDescriptor, AnnotationIndex, AnnotationIndexDescriptor:
	default:
		return Annotation{}, fmt.Errorf("unknown annotation type %q (manifest, manifest-descriptor, index, index-descriptor)", tp)
	}
	if key == "" {
		return Annotation{}, fmt.Errorf("empty annotation key")
	}
	a := Annotation{Type: tp, Key: key, Value: value}
	if plat != "" {
		if tp == AnnotationIndex || tp == AnnotationIndexDescriptor {
			return Annotation{}, fmt.Errorf("an %s annotation cannot name a platform", tp)
		}
		// Normalized as --platform is (linux/arm64/v8 is linux/arm64), so that it matches a target.
		p, err := platform.Parse(plat)
		if err != nil {
			return Annotation{}, err
		}
		a.Platform = platform.Format(p)
	}
	return a, nil
}

func (as Annotations) clone() Annotations { return append(Annotations(nil), as...) }

// merge appends other, refusing a key that other sets to a different value at the same place
// (hoist writes one image for every output, so the outputs must agree).
func (as *Annotations) merge(other Annotations) error {
	for _, a := range other {
		for _, b := range *as {
			if a.Type == b.Type && a.Platform == b.Platform && a.Key == b.Key && a.Value != b.Value {
				return fmt.Errorf("annotation %s %q is %q in one output and %q in another: hoist writes one image for every output", a.Type, a.Key, b.Value, a.Value)
			}
		}
		*as = append(*as, a)
	}
	return nil
}

// For returns the annotations of the image built for platform (os/arch[/variant]) and checks, as
// BuildKit does, that every platform named is one of those built.
func (as Annotations) For(platform string, built []string) (AnnotationSet, error) {
	set := AnnotationSet{Manifest: map[string]string{}, ManifestDescriptor: map[string]string{},
		Index: map[string]string{}, IndexDescriptor: map[string]string{}}
	for _, a := range as {
		if a.Platform != "" && !contains(built, a.Platform) {
			return set, fmt.Errorf("invalid annotation: no platform %s found in source", a.Platform)
		}
		if a.Platform != "" && a.Platform != platform {
			continue
		}
		m := map[string]map[string]string{AnnotationManifest: set.Manifest, AnnotationManifestDescriptor: set.ManifestDescriptor,
			AnnotationIndex: set.Index, AnnotationIndexDescriptor: set.IndexDescriptor}[a.Type]
		m[a.Key] = a.Value
	}
	return set, nil
}

// single checks the set for a single-platform image (no index), as BuildKit's image writer does.
func (s AnnotationSet) single() error {
	if len(s.Index) > 0 || len(s.IndexDescriptor) > 0 {
		return fmt.Errorf("--annotation: index annotations not supported for single platform export")
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
