package builder

// Attestations attached to a build's images, as BuildKit's image exporter attaches them
// (exporter/containerimage/writer.go commitAttestationsManifest, exporter/attestation/make.go):
//
//   - each platform's attestations are in-toto statements (https://in-toto.io/Statement/v1) whose
//     subjects are the image's names as package URLs (pkg:docker/NAME@TAG?platform=...) with the
//     image manifest's digest;
//   - the statements are the layers (application/vnd.in-toto+json, annotated with
//     in-toto.io/predicate-type) of one attestation manifest per platform, an OCI artifact manifest
//     (artifactType application/vnd.docker.attestation.manifest.v1+json, the empty config, subject the
//     image manifest): BuildKit's default format since compatibility version 0.31;
//   - the index lists every platform's image, then the attestation manifests (platform
//     unknown/unknown, annotations vnd.docker.reference.digest=IMAGE and
//     vnd.docker.reference.type=attestation-manifest). A single-platform build with attestations is
//     such an index too. The index is an OCI index (BuildKit refuses attestations without OCI types).
//
// The local and tar outputs get the statements as files (provenance.json, sbom.spdx.json) next to the
// filesystem, their subjects every regular file with its digest (exporter/local/fs.go).

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/internal/atomicfile"
	"github.com/hoistbuild/hoist/internal/sbom"
)

const (
	statementType             = "https://in-toto.io/Statement/v1"
	inTotoMediaType           = types.MediaType("application/vnd.in-toto+json")
	attestationArtifactType   = "application/vnd.docker.attestation.manifest.v1+json"
	emptyConfigMediaType      = types.MediaType("application/vnd.oci.empty.v1+json")
	annotationPredicateType   = "in-toto.io/predicate-type"
	annotationReferenceDigest = "vnd.docker.reference.digest"
	annotationReferenceType   = "vnd.docker.reference.type"
	referenceTypeAttestation  = "attestation-manifest"
)

// attestation is one predicate of a platform, before it gets its subjects.
type attestation struct {
	predicateType string
	predicate     json.RawMessage
	// file is its name in a local or tar output (BuildKit's attestation path).
	file string
}

// subject is an in-toto subject.
type subject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}

// statement is an in-toto statement in the field order BuildKit writes.
type statement struct {
	Type          string          `json:"_type"`
	PredicateType string          `json:"predicateType"`
	Subject       []subject       `json:"subject"`
	Predicate     json.RawMessage `json:"predicate"`
}

// attestations makes this target's attestations of its final state st.
func (bd *build) attestations(ctx context.Context, st *imageState, names []string) ([]attestation, error) {
	var out []attestation
	a := bd.opts.Attest
	if a.Provenance != nil {
		in, err := bd.provenanceInput(time.Now())
		if err != nil {
			return nil, err
		}
		pt, pred := in.predicate()
		raw, err := json.Marshal(pred)
		if err != nil {
			return nil, err
		}
		out = append(out, attestation{predicateType: pt, predicate: raw, file: "provenance.json"})
	}
	if a.SBOM != nil {
		raw, err := bd.sbomDocument(ctx, st, names)
		if err != nil {
			return nil, fmt.Errorf("--sbom: %w", err)
		}
		out = append(out, attestation{predicateType: sbom.PredicateType, predicate: raw, file: "sbom.spdx.json"})
	}
	return out, nil
}

// sbomDocument scans the final filesystem of st and returns its SPDX document, created at
// SOURCE_DATE_EPOCH when given (the document is then the same for the same packages).
func (bd *build) sbomDocument(ctx context.Context, st *imageState, names []string) ([]byte, error) {
	root, done, err := bd.b.mountReadOnly(ctx, bd.scratch, st.layers)
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := os.OpenRoot(root) // symlinks in the image cannot lead the scan out of it
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pkgs, _, err := sbom.Scan(r.FS())
	if err != nil {
		return nil, err
	}
	created := time.Now()
	if bd.opts.SourceDateEpoch != nil {
		created = *bd.opts.SourceDateEpoch
	}
	name := "image"
	if len(names) > 0 {
		name = names[0]
	}
	return sbom.NewDocument(name, "hoist", created.Truncate(time.Second), pkgs).JSON()
}

// imageSubjects are BuildKit's default subjects: each image name as a package URL for the platform,
// with the image manifest's digest.
func imageSubjects(names []string, p v1.Platform, h v1.Hash) ([]subject, error) {
	out := []subject{}
	for _, n := range names {
		uri, err := dockerPURL(n, &p)
		if err != nil {
			return nil, err
		}
		out = append(out, subject{Name: uri, Digest: map[string]string{h.Algorithm: h.Hex}})
	}
	return out, nil
}

func (a attestation) statement(subjects []subject) ([]byte, error) {
	return json.Marshal(statement{Type: statementType, PredicateType: a.predicateType, Subject: subjects, Predicate: a.predicate})
}

// ociDescriptor is a descriptor in the field order of the OCI image-spec's Go types (BuildKit's).
type ociDescriptor struct {
	MediaType   types.MediaType   `json:"mediaType"`
	Digest      v1.Hash           `json:"digest"`
	Size        int64             `json:"size"`
	Data        []byte            `json:"data,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type artifactManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     types.MediaType `json:"mediaType"`
	ArtifactType  string          `json:"artifactType"`
	Config        ociDescriptor   `json:"config"`
	Layers        []ociDescriptor `json:"layers"`
	Subject       *ociDescriptor  `json:"subject"`
}

// attestationImage is the attestation manifest of the image target (its index descriptor) with the
// statements of atts, and its descriptor in the index.
func attestationImage(target v1.Descriptor, atts []attestation, subjects []subject) (v1.Image, v1.Descriptor, error) {
	cfg := []byte("{}")
	cfgDigest, _, _ := v1.SHA256(bytes.NewReader(cfg))
	m := artifactManifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: attestationArtifactType,
		Config:  ociDescriptor{MediaType: emptyConfigMediaType, Digest: cfgDigest, Size: int64(len(cfg)), Data: cfg},
		Subject: &ociDescriptor{MediaType: target.MediaType, Digest: target.Digest, Size: target.Size}}
	layers := map[v1.Hash]v1.Layer{}
	for _, a := range atts {
		data, err := a.statement(subjects)
		if err != nil {
			return nil, v1.Descriptor{}, err
		}
		l := static.NewLayer(data, inTotoMediaType)
		d, err := l.Digest()
		if err != nil {
			return nil, v1.Descriptor{}, err
		}
		layers[d] = l
		m.Layers = append(m.Layers, ociDescriptor{MediaType: inTotoMediaType, Digest: d, Size: int64(len(data)),
			Annotations: map[string]string{annotationPredicateType: a.predicateType}})
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	img, err := partial.CompressedToImage(&rawArtifact{raw: raw, cfg: cfg, layers: layers})
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	h, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, v1.Descriptor{}, err
	}
	return img, v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: int64(len(raw)),
		Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
		Annotations: map[string]string{annotationReferenceDigest: target.Digest.String(), annotationReferenceType: referenceTypeAttestation}}, nil
}

// rawArtifact is an attestation manifest as a ggcr image: its manifest bytes as written, the empty
// config and the statements as layers.
type rawArtifact struct {
	raw, cfg []byte
	layers   map[v1.Hash]v1.Layer
}

var _ partial.CompressedImageCore = (*rawArtifact)(nil)

// RawConfigFile implements partial.CompressedImageCore.
func (r *rawArtifact) RawConfigFile() ([]byte, error) { return r.cfg, nil }

// MediaType implements partial.CompressedImageCore.
func (r *rawArtifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// RawManifest implements partial.CompressedImageCore.
func (r *rawArtifact) RawManifest() ([]byte, error) { return r.raw, nil }

// LayerByDigest implements partial.CompressedImageCore.
func (r *rawArtifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if l, ok := r.layers[h]; ok {
		return l, nil
	}
	return nil, fmt.Errorf("attestation manifest has no blob %s", h)
}

// writeStatementFiles writes atts as files into dir (mode 0600, as BuildKit's local exporter), their
// subjects every regular file under dir with its digest.
func writeStatementFiles(dir string, atts []attestation) error {
	subjects := []subject{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		subjects = append(subjects, subject{Name: filepath.ToSlash(rel), Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))}})
		return nil
	})
	if err != nil {
		return err
	}
	for _, a := range atts {
		data, err := a.statementIndent(subjects)
		if err != nil {
			return err
		}
		if err := atomicfile.WriteFile(filepath.Join(dir, a.file), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// statementIndent is the statement as BuildKit's local and tar exporters write it (indented).
func (a attestation) statementIndent(subjects []subject) ([]byte, error) {
	return json.MarshalIndent(statement{Type: statementType, PredicateType: a.predicateType, Subject: subjects, Predicate: a.predicate}, "", "  ")
}

// copyTarWithStatements copies the tar r into tw with prefix before every name, then adds atts as
// files under prefix whose subjects are the regular files copied (their names without prefix).
func copyTarWithStatements(tw *tar.Writer, r io.Reader, prefix string, atts []attestation, mtime time.Time) error {
	subjects := []subject{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name := hdr.Name
		hdr.Name = prefix + hdr.Name
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = prefix + hdr.Linkname
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(tw, h), tr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			subjects = append(subjects, subject{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(h.Sum(nil))}})
		}
	}
	for _, a := range atts {
		data, err := a.statementIndent(subjects)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: prefix + a.file, Mode: 0o600, Size: int64(len(data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// attachAttestations makes the attestation manifest of each platform image of im (in order, the
// images of bds) and appends them to im after the images, as BuildKit lists them; the manifests go
// into imgs and each platform's attestations into fss for the filesystem outputs.
func attachAttestations(ctx context.Context, bds []*build, finals []*imageState, im *v1.IndexManifest, imgs map[v1.Hash]v1.Image, fss []platformFS) error {
	names, err := subjectNames(bds[0].outputs)
	if err != nil {
		return err
	}
	var atts []v1.Descriptor
	for i, bd := range bds {
		d := im.Manifests[i]
		list, err := bd.attestations(ctx, finals[i], names)
		if err != nil {
			return err
		}
		p := bd.target.platform
		if d.Platform != nil {
			p = *d.Platform
		}
		subjects, err := imageSubjects(names, p, d.Digest)
		if err != nil {
			return err
		}
		img, desc, err := attestationImage(d, list, subjects)
		if err != nil {
			return err
		}
		imgs[desc.Digest] = img
		atts = append(atts, desc)
		fss[i].atts = list
		bd.progress.printf("%sexporting attestation manifest %s done\n", bd.labelPrefix, desc.Digest)
	}
	im.Manifests = append(im.Manifests, atts...)
	return nil
}

// subjectNames are the image names of the outputs (BuildKit's exporter name=), normalized.
func subjectNames(outs []Output) ([]string, error) {
	seen := map[string]bool{}
	var names []string
	for _, o := range outs {
		if !o.image() {
			continue
		}
		ns, err := normalizedTags(o.Names)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names, nil
}
