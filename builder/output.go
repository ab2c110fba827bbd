package builder

import (
	"encoding/csv"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

// Output types: buildx's exporters (`--output type=...`).
const (
	// OutputImage is the image store; with Push the image also goes to every name's registry.
	// type=registry is OutputImage with Push.
	OutputImage = "image"
	// OutputDocker is a docker-archive tarball (`docker load` reads it) at Dest; without Dest it is
	// the image store, as `--load` (buildx loads it into the docker daemon).
	OutputDocker = "docker"
	// OutputOCI is a tarball of an OCI image layout at Dest.
	OutputOCI = "oci"
	// OutputTar is the final filesystem (no image) as a tar at Dest.
	OutputTar = "tar"
	// OutputLocal is the final filesystem copied into the directory Dest.
	OutputLocal = "local"
)

// StdoutDest is the Dest that means the build's Stdout (`-o -`, `dest=-`).
const StdoutDest = "-"

// Output is one output of a build (one --output of buildx). The zero Output is invalid; make one
// with ParseOutput.
type Output struct {
	Type string
	// Dest is the file (docker, oci, tar) or directory (local) written; StdoutDest is Options.Stdout.
	Dest string
	// Names are the image names (image, docker, oci): tags in the store, push targets, RepoTags of a
	// docker archive, ref.name annotations of an OCI layout. ParseOutput leaves them empty when
	// name= is not given; the build then uses Options.Tags, as buildx fills name= from -t.
	Names []string
	// Push sends the image to every name's registry (image output only).
	Push bool
	// PushByDigest pushes without a tag: the manifest goes to NAME@DIGEST.
	PushByDigest bool
	// NoStore keeps a pushed image out of the store's names (store=false).
	NoStore bool
	// Compression is the output's layer compression (compression=), "" for the build's.
	Compression push.Compression
	// Annotations come from the annotation.* keys of the spec.
	Annotations Annotations
}

// image reports whether the output is an image (as opposed to a filesystem).
func (o Output) image() bool { return o.Type != OutputTar && o.Type != OutputLocal }

// stored reports whether the output names the image in the store.
func (o Output) stored() bool {
	return (o.Type == OutputImage && !o.NoStore) || (o.Type == OutputDocker && o.Dest == "")
}

// ToStdout reports whether the output writes to the build's standard output: dest=-, or an oci or
// tar output without dest (buildx's rule).
func (o Output) ToStdout() bool {
	return o.Dest == StdoutDest || (o.Dest == "" && (o.Type == OutputOCI || o.Type == OutputTar))
}

// keysFor lists the keys each output type accepts besides type and annotation.*.
var keysFor = map[string][]string{
	OutputImage:  {"name", "push", "push-by-digest", "store", "compression"},
	OutputDocker: {"name", "dest", "compression"},
	OutputOCI:    {"name", "dest", "tar", "compression"},
	OutputTar:    {"dest"},
	OutputLocal:  {"dest"},
}

// ParseOutput parses one --output value in buildx's syntax: comma-separated key=value fields (CSV
// quoting, so name="a,b" holds two names), or a bare path (type=local,dest=PATH), or "-"
// (type=tar to standard output). type=registry is type=image,push=true. Every key the type does
// not implement is an error naming it.
func ParseOutput(spec string) (Output, error) {
	fields, err := csv.NewReader(strings.NewReader(spec)).Read()
	if err != nil {
		return Output{}, fmt.Errorf("--output %q: %w", spec, err)
	}
	if len(fields) == 1 && fields[0] == spec && !strings.HasPrefix(spec, "type=") && !strings.Contains(spec, "=") {
		if spec == StdoutDest {
			return Output{Type: OutputTar, Dest: StdoutDest}, nil
		}
		return Output{Type: OutputLocal, Dest: spec}, nil
	}
	kv := map[string]string{}
	var order []string
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return Output{}, fmt.Errorf("--output %q: invalid value %q: expected key=value", spec, f)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := kv[k]; !dup {
			order = append(order, k)
		}
		kv[k] = v
	}
	o, err := outputFrom(kv, order)
	if err != nil {
		return Output{}, fmt.Errorf("--output %q: %w", spec, err)
	}
	return o, nil
}

// outputFrom checks the fields of one output and fills an Output.
func outputFrom(kv map[string]string, order []string) (Output, error) {
	o := Output{Type: kv["type"]}
	switch o.Type {
	case "":
		return o, errors.New("type is required for output")
	case "registry":
		o.Type, o.Push = OutputImage, true
	case OutputImage, OutputDocker, OutputOCI, OutputTar, OutputLocal:
	default:
		return o, fmt.Errorf("unknown output type %q (registry, image, docker, oci, tar, local)", o.Type)
	}
	allowed := map[string]bool{"type": true}
	for _, k := range keysFor[o.Type] {
		allowed[k] = true
	}
	var err error
	for _, k := range order {
		v := kv[k]
		if strings.HasPrefix(k, "annotation") && o.image() {
			if err := o.Annotations.addKey(k, v); err != nil {
				return o, err
			}
			continue
		}
		if !allowed[k] {
			return o, fmt.Errorf("key %q is not supported by type=%s", k, kv["type"])
		}
		switch k {
		case "dest":
			o.Dest = v
		case "name":
			o.Names = splitNames(v)
		case "push":
			o.Push, err = outputBool(k, v)
		case "push-by-digest":
			o.PushByDigest, err = outputBool(k, v)
		case "store":
			var store bool
			store, err = outputBool(k, v)
			o.NoStore = !store
		case "tar":
			var tar bool
			if tar, err = outputBool(k, v); err == nil && !tar {
				err = errors.New("tar=false (an OCI layout directory) is not supported: leave tar at true")
			}
		case "compression":
			o.Compression, err = push.ParseCompression(v)
			if err != nil {
				err = fmt.Errorf("compression: unknown compression %q (gzip, zstd, estargz)", v)
			}
		}
		if err != nil {
			return o, err
		}
	}
	return o, o.check()
}

// check rejects combinations no exporter accepts.
func (o Output) check() error {
	switch {
	case o.Type == OutputLocal && o.Dest == "":
		return errors.New("dest directory is required for local exporter")
	case o.Type == OutputLocal && o.Dest == StdoutDest:
		return errors.New("dest=- is not a directory: use type=tar to write to standard output")
	case o.NoStore && !o.Push:
		return errors.New("store=false without push=true would keep the image nowhere")
	case o.PushByDigest && !o.Push:
		return errors.New("push-by-digest=true needs push=true")
	}
	return nil
}

func outputBool(k, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("%s: invalid boolean %q", k, v)
}

func splitNames(v string) []string {
	var out []string
	for _, n := range strings.Split(v, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// resolveOutputs is the build's outputs as they run: the image store named by tags when none was
// given; names from tags where an image output has none (buildx's rule); the outputs' annotations
// and compression merged into one, because hoist writes one image for all of them.
func resolveOutputs(outs []Output, tags []string, global Annotations, comp push.Compression) ([]Output, Annotations, push.Compression, error) {
	if len(outs) == 0 {
		outs = []Output{{Type: OutputImage}}
	}
	ann := global.clone()
	res := make([]Output, len(outs))
	for i, o := range outs {
		if o.image() && len(o.Names) == 0 {
			o.Names = tags
		}
		if o.Push && len(o.Names) == 0 {
			return nil, ann, comp, errors.New("--push: no name to push to: give -t NAME or name= in --output")
		}
		if err := ann.merge(o.Annotations); err != nil {
			return nil, ann, comp, err
		}
		if o.Compression != "" {
			if comp != "" && comp != o.Compression {
				return nil, ann, comp, fmt.Errorf("--output compression=%s differs from %s: hoist writes one image for every output", o.Compression, comp)
			}
			comp = o.Compression
		}
		res[i] = o
	}
	return res, ann, comp, nil
}

// storedNames is the names the store gives the image: those of every stored output.
func storedNames(outs []Output) []string {
	seen := map[string]bool{}
	var names []string
	for _, o := range outs {
		if !o.stored() {
			continue
		}
		for _, n := range o.Names {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

// ParseOutputs parses the --output values and adds buildx's shorthands: --push is type=registry,
// --load is type=docker (here: the image store).
func ParseOutputs(specs []string, push, load bool) ([]Output, error) {
	var outs []Output
	for _, s := range specs {
		if s == "" {
			continue
		}
		o, err := ParseOutput(s)
		if err != nil {
			return nil, err
		}
		outs = append(outs, o)
	}
	if push {
		outs = append(outs, Output{Type: OutputImage, Push: true})
	}
	if load {
		outs = append(outs, Output{Type: OutputDocker})
	}
	return outs, nil
}

// earlyPushRepos is the repositories the outputs push to (deduplicated), where the target stage's
// layers can be uploaded while the build runs.
func earlyPushRepos(outs []Output) []name.Repository {
	seen := map[string]bool{}
	var repos []name.Repository
	for _, o := range outs {
		if !o.Push {
			continue
		}
		for _, n := range o.Names {
			ref, err := store.ParseName(n)
			if err != nil || seen[ref.Context().String()] {
				continue
			}
			seen[ref.Context().String()] = true
			repos = append(repos, ref.Context())
		}
	}
	return repos
}
