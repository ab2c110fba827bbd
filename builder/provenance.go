package builder

// SLSA provenance of a build, in the shape current BuildKit writes it (solver/llbsolver/provenance,
// provenance/types): SLSA v1 by default (BuildKit v0.32's frontend/attestations default), v0.2 with
// version=v0.2. mode=min leaves out the build args and labels (BuildKit's scrubMinRequest) and marks
// the request incomplete when it did; mode=max keeps them and adds the Dockerfile as a source info.
// BuildKit's LLB definition (buildConfig) and layer map of mode=max have no counterpart in hoist.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/internal/sbom"
	"github.com/hoistbuild/hoist/store"
)

const (
	predicateSLSA1  = "https://slsa.dev/provenance/v1"
	predicateSLSA02 = "https://slsa.dev/provenance/v0.2"
	buildTypeSLSA1  = "https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md"
	buildTypeSLSA02 = "https://mobyproject.org/buildkit@v1"
)

// baseImage is an image a stage of the build was based on: the reference as written, the digest of
// the manifest used and the platform it was used for.
type baseImage struct {
	ref      string
	digest   v1.Hash
	platform v1.Platform
}

// recordBase notes an image the build used, once per reference and platform.
func (bd *build) recordBase(ref string, h v1.Hash, p v1.Platform) {
	bd.mu.Lock()
	defer bd.mu.Unlock()
	for _, b := range bd.bases {
		if b.ref == ref && b.digest == h && platform.Format(b.platform) == platform.Format(p) {
			return
		}
	}
	bd.bases = append(bd.bases, baseImage{ref: ref, digest: h, platform: p})
}

// dockerPURL is BuildKit's purl.RefToPURL for an image: pkg:docker/NAMESPACE/NAME@TAG?platform=...
// with the familiar name (docker.io/library/ left out), digest=... for a digest reference.
func dockerPURL(ref string, p *v1.Platform) (string, error) {
	r, err := store.ParseName(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	repo := r.Context().RepositoryStr()
	if reg := r.Context().RegistryStr(); reg == "index.docker.io" || reg == "docker.io" {
		repo = strings.TrimPrefix(repo, "library/")
	} else {
		repo = reg + "/" + repo
	}
	var q [][2]string
	version := ""
	if d, ok := r.(interface{ DigestStr() string }); ok {
		q = append(q, [2]string{"digest", d.DigestStr()})
	} else {
		version = r.Identifier()
	}
	if p != nil {
		q = append(q, [2]string{"platform", platform.Format(platform.Normalize(*p))})
	}
	ns, name := "", repo
	if i := strings.LastIndex(repo, "/"); i >= 0 {
		ns, name = repo[:i], repo[i+1:]
	}
	return sbom.PURL("docker", ns, name, version, q), nil
}

// material is a resolved dependency (v1) or material (v0.2).
type material struct {
	URI    string            `json:"uri"`
	Digest map[string]string `json:"digest,omitempty"`
}

type configSource struct {
	URI    string            `json:"uri,omitempty"`
	Digest map[string]string `json:"digest,omitempty"`
	Path   string            `json:"path,omitempty"`
}

type builderID struct {
	ID string `json:"id"`
}

type localSource struct {
	Name string `json:"name"`
}

type request struct {
	Frontend string            `json:"frontend,omitempty"`
	Args     map[string]string `json:"args,omitempty"`
	Locals   []localSource     `json:"locals,omitempty"`
}

type sourceInfo struct {
	Filename string `json:"filename,omitempty"`
	Language string `json:"language,omitempty"`
	Data     []byte `json:"data,omitempty"`
}

type buildkitMetadata struct {
	Source *struct {
		Infos []sourceInfo `json:"infos,omitempty"`
	} `json:"source,omitempty"`
}

// provenanceInput is what a platform's provenance is made of.
type provenanceInput struct {
	spec              *ProvenanceAttest
	started, finished time.Time
	materials         []material
	config            configSource
	req               request
	complete          bool // the request is complete (nothing scrubbed by mode=min)
	materialsComplete bool // no local context: every input is named by digest
	meta              buildkitMetadata
}

// provenanceInput gathers the provenance of this target's build finished at finished.
func (bd *build) provenanceInput(finished time.Time) (*provenanceInput, error) {
	spec := bd.opts.Attest.Provenance
	in := &provenanceInput{spec: spec, started: bd.started, finished: finished, complete: true}
	for _, b := range bd.bases {
		p := b.platform
		uri, err := dockerPURL(b.ref, &p)
		if err != nil {
			return nil, err
		}
		in.materials = append(in.materials, material{URI: uri, Digest: map[string]string{b.digest.Algorithm: b.digest.Hex}})
	}
	in.req.Frontend = "dockerfile.v0"
	args := map[string]string{}
	for k, v := range bd.opts.BuildArgs {
		args["build-arg:"+k] = v
	}
	for k, v := range bd.opts.Labels {
		args["label:"+k] = v
	}
	if spec.Mode == "min" && len(args) > 0 {
		args, in.complete = map[string]string{}, false
	}
	if bd.opts.Target != "" {
		args["target"] = bd.opts.Target
	}
	if len(args) > 0 {
		in.req.Args = maps.Clone(args)
	}
	dfDigest := sha256.Sum256(bd.dfData)
	in.config.Path = filepath.Base(bd.dfName)
	if bd.source != nil && bd.source.gitCommit != "" {
		// BuildKit: the context's git URL and commit are the config source and a material.
		dg := map[string]string{"sha1": bd.source.gitCommit}
		if len(bd.source.gitCommit) == 64 {
			dg = map[string]string{"sha256": bd.source.gitCommit}
		}
		in.config.URI, in.config.Digest = redactURL(bd.source.id), dg
		in.materials = append(in.materials, material{URI: bd.source.gitURL, Digest: dg})
		in.materialsComplete = true
	} else {
		// A local context: BuildKit names its locals and leaves the config source empty; hoist adds
		// the Dockerfile's digest to the config source (see docs/supplychain.md).
		in.config.Digest = map[string]string{"sha256": hex.EncodeToString(dfDigest[:])}
		in.req.Locals = []localSource{{Name: "context"}, {Name: "dockerfile"}}
	}
	if spec.Mode == "max" {
		in.meta.Source = &struct {
			Infos []sourceInfo `json:"infos,omitempty"`
		}{Infos: []sourceInfo{{Filename: filepath.Base(bd.dfName), Language: "Dockerfile", Data: bd.dfData}}}
	}
	return in, nil
}

// invocationID is a random build invocation id (BuildKit's job id: 25 lowercase alphanumerics).
func invocationID() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 25)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// slsa02 is a SLSA v0.2 provenance predicate in BuildKit's field order (ProvenancePredicateSLSA02).
type slsa02 struct {
	Builder    builderID    `json:"builder"`
	BuildType  string       `json:"buildType"`
	Materials  []material   `json:"materials"`
	Invocation invocation02 `json:"invocation"`
	Metadata   metadata02   `json:"metadata"`
}

type invocation02 struct {
	ConfigSource configSource      `json:"configSource"`
	Parameters   request           `json:"parameters"`
	Environment  map[string]string `json:"environment"`
}

type metadata02 struct {
	InvocationID string    `json:"buildInvocationID"`
	Started      time.Time `json:"buildStartedOn"`
	Finished     time.Time `json:"buildFinishedOn"`
	Completeness struct {
		Parameters  bool `json:"parameters"`
		Environment bool `json:"environment"`
		Materials   bool `json:"materials"`
	} `json:"completeness"`
	Reproducible bool             `json:"reproducible"`
	BuildKit     buildkitMetadata `json:"https://mobyproject.org/buildkit@v1#metadata"`
}

// slsa1 is a SLSA v1 provenance predicate in BuildKit's field order (ProvenancePredicateSLSA1).
type slsa1 struct {
	BuildDefinition struct {
		BuildType            string     `json:"buildType"`
		ResolvedDependencies []material `json:"resolvedDependencies,omitempty"`
		ExternalParameters   struct {
			ConfigSource configSource `json:"configSource"`
			Request      request      `json:"request"`
		} `json:"externalParameters"`
		InternalParameters struct {
			BuilderPlatform string `json:"builderPlatform"`
		} `json:"internalParameters"`
	} `json:"buildDefinition"`
	RunDetails struct {
		Builder  builderID `json:"builder"`
		Metadata struct {
			InvocationID string           `json:"invocationId"`
			Started      time.Time        `json:"startedOn"`
			Finished     time.Time        `json:"finishedOn"`
			BuildKit     buildkitMetadata `json:"buildkit_metadata"`
			Completeness struct {
				Request              bool `json:"request"`
				ResolvedDependencies bool `json:"resolvedDependencies"`
			} `json:"buildkit_completeness"`
			Reproducible bool `json:"buildkit_reproducible,omitempty"`
		} `json:"metadata"`
	} `json:"runDetails"`
}

// predicate returns the predicate type and predicate of in.
func (in *provenanceInput) predicate() (string, any) {
	host := platform.Format(platform.Host())
	id := invocationID()
	started, finished := in.started.UTC(), in.finished.UTC()
	if in.spec.Version == "v0.2" {
		p := slsa02{Builder: builderID{ID: in.spec.BuilderID}, BuildType: buildTypeSLSA02, Materials: in.materials,
			Invocation: invocation02{ConfigSource: in.config, Parameters: in.req, Environment: map[string]string{"platform": host}},
			Metadata:   metadata02{InvocationID: id, Started: started, Finished: finished, Reproducible: in.spec.Reproducible, BuildKit: in.meta}}
		if p.Materials == nil {
			p.Materials = []material{}
		}
		c := &p.Metadata.Completeness
		c.Parameters, c.Environment, c.Materials = in.complete, true, in.materialsComplete
		return predicateSLSA02, p
	}
	var p slsa1
	d := &p.BuildDefinition
	d.BuildType, d.ResolvedDependencies = buildTypeSLSA1, in.materials
	d.ExternalParameters.ConfigSource, d.ExternalParameters.Request = in.config, in.req
	d.InternalParameters.BuilderPlatform = host
	r := &p.RunDetails
	r.Builder.ID = in.spec.BuilderID
	m := &r.Metadata
	m.InvocationID, m.Started, m.Finished, m.BuildKit, m.Reproducible = id, started, finished, in.meta, in.spec.Reproducible
	m.Completeness.Request, m.Completeness.ResolvedDependencies = in.complete, in.materialsComplete
	return predicateSLSA1, p
}
