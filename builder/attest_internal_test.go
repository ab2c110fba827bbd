package builder

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestParseAttestations(t *testing.T) {
	for _, tc := range []struct {
		sbom, prov string
		attest     []string
		want       string // "sbom" and/or "provenance mode version", or the error
	}{
		{"", "", nil, ""},
		{"true", "", nil, "sbom"},
		{"false", "", []string{"type=sbom"}, ""}, // the shorthand comes after --attest, as in buildx
		{"", "true", nil, "provenance min v1"},
		{"", "mode=max", nil, "provenance max v1"},
		{"", "mode=full,version=v0.2", nil, "provenance max v0.2"},
		{"", "", []string{"type=provenance,mode=max", "type=sbom"}, "sbom provenance max v1"},
		{"", "", []string{"type=provenance,disabled=true"}, ""},
		{"", "false", []string{"type=provenance"}, ""},
		{"bogus", "", nil, `--sbom: invalid value "bogus"`},
		{"", "mode=x", nil, `--provenance: invalid mode "x"`},
		{"", "", []string{"type=vex"}, `--attest "type=vex": unknown attestation type "vex"`},
		{"", "", []string{`type=sbom,"unterminated`}, `--attest "type=sbom,\"unterminated"`},
		{"", "", []string{"type=provenance,disabled=maybe"}, `--attest: disabled="maybe": not a boolean`},
	} {
		a, err := ParseAttestations(tc.sbom, tc.prov, tc.attest)
		var got []string
		if err != nil {
			got = append(got, err.Error())
		}
		if a.SBOM != nil {
			got = append(got, "sbom")
		}
		if p := a.Provenance; p != nil {
			got = append(got, "provenance "+p.Mode+" "+p.Version)
		}
		if g := strings.Join(got, " "); !strings.HasPrefix(g, tc.want) || (tc.want == "" && g != "") {
			t.Errorf("ParseAttestations(%q, %q, %q) = %q, want %q", tc.sbom, tc.prov, tc.attest, g, tc.want)
		}
	}
}

func TestDockerPURL(t *testing.T) {
	amd64 := &v1.Platform{OS: "linux", Architecture: "amd64"}
	arm := &v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}
	for _, tc := range []struct {
		ref  string
		p    *v1.Platform
		want string
	}{
		// BuildKit's util/purl RefToPURL: the familiar name, latest when untagged.
		{"busybox", amd64, "pkg:docker/busybox@latest?platform=linux%2Famd64"},
		{"docker.io/library/debian:bookworm-slim", arm, "pkg:docker/debian@bookworm-slim?platform=linux%2Farm%2Fv7"},
		{"example.com/team/app:1", nil, "pkg:docker/example.com/team/app@1"},
		{"127.0.0.1:5000/x@sha256:" + strings.Repeat("a", 64), amd64, "pkg:docker/127.0.0.1:5000/x?digest=sha256:" + strings.Repeat("a", 64) + "&platform=linux%2Famd64"},
	} {
		got, err := dockerPURL(tc.ref, tc.p)
		if err != nil || got != tc.want {
			t.Errorf("dockerPURL(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
		}
	}
}

// TestAttestationImage: the attestation manifest is what BuildKit writes (artifact form) and the ggcr
// image over it serves the statements and the empty config the store writes.
func TestAttestationImage(t *testing.T) {
	target := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}, Size: 100}
	atts := []attestation{{predicateType: "https://slsa.dev/provenance/v1", predicate: json.RawMessage(`{"x":1}`)}}
	img, desc, err := attestationImage(target, atts, []subject{{Name: "pkg:docker/x@1", Digest: map[string]string{"sha256": target.Digest.Hex}}})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	if d, _ := img.Digest(); d != desc.Digest || desc.Size != int64(len(raw)) {
		t.Errorf("descriptor %+v does not describe the manifest (%s)", desc, d)
	}
	if desc.Platform.OS != "unknown" || desc.Annotations[annotationReferenceDigest] != target.Digest.String() {
		t.Errorf("descriptor %+v", desc)
	}
	m, err := img.Manifest()
	if err != nil || len(m.Layers) != 1 || m.Layers[0].MediaType != inTotoMediaType || m.Config.MediaType != emptyConfigMediaType {
		t.Fatalf("manifest %s: %v", raw, err)
	}
	cfg, _ := img.RawConfigFile()
	l, err := img.LayerByDigest(m.Layers[0].Digest)
	if err != nil || string(cfg) != "{}" {
		t.Fatalf("config %q, layer: %v", cfg, err)
	}
	rc, _ := l.Compressed()
	var st statement
	if err := json.NewDecoder(rc).Decode(&st); err != nil || st.Type != statementType || string(st.Predicate) != `{"x":1}` || st.Subject[0].Name != "pkg:docker/x@1" {
		t.Errorf("statement %+v: %v", st, err)
	}
}
