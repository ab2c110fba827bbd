package sign

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// SignatureType is the simple-signing payload's critical.type for a cosign image signature.
const SignatureType = "cosign container image signature"

// Payload is the simple-signing document a signature covers (sigstore's
// payload.SimpleContainerImage, field for field, so json.Marshal gives cosign's bytes).
type Payload struct {
	Critical Critical       `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// Critical is what a verifier must check: which manifest digest was signed, under which name, and
// that the document is an image signature.
type Critical struct {
	Identity Identity `json:"identity"`
	Image    Image    `json:"image"`
	Type     string   `json:"type"`
}

// Identity is the name the signer claims for the image.
type Identity struct {
	DockerReference string `json:"docker-reference"`
}

// Image names the signed manifest (or index) by digest.
type Image struct {
	DockerManifestDigest string `json:"docker-manifest-digest"`
}

// NewPayload is the payload cosign sign makes for the manifest digest d in repository repo (its
// docker-reference is the repository's full name, without tag or digest, as cosign's) with the
// optional annotations (nil: none, "optional": null).
func NewPayload(repo string, d v1.Hash, annotations map[string]string) ([]byte, error) {
	p := Payload{
		Critical: Critical{
			Identity: Identity{DockerReference: repo},
			Image:    Image{DockerManifestDigest: d.String()},
			Type:     SignatureType,
		},
	}
	if len(annotations) > 0 {
		p.Optional = make(map[string]any, len(annotations))
		for k, v := range annotations {
			p.Optional[k] = v
		}
	}
	return json.Marshal(p)
}

// checkClaims checks a verified payload against the image: cosign's SimpleClaimVerifier (the
// signed digest is the image's, the wanted annotations are in optional with the same string values)
// plus its type, which cosign leaves unchecked. The docker-reference is not checked, as in cosign:
// the digest binds the content, and a signed image copied to another repository still verifies.
func checkClaims(raw []byte, h v1.Hash, want map[string]string) (Payload, error) {
	var p Payload
	if err := json.Unmarshal(raw, &p); err != nil {
		return p, fmt.Errorf("payload is not a simple-signing document: %w", err)
	}
	if p.Critical.Type != SignatureType {
		return p, fmt.Errorf("payload type %q is not %q", p.Critical.Type, SignatureType)
	}
	if got := p.Critical.Image.DockerManifestDigest; got != h.String() {
		return p, fmt.Errorf("payload signs %s, not this image (%s)", orNone(got), h)
	}
	for k, v := range want {
		if got, ok := p.Optional[k]; !ok || got != any(v) {
			return p, fmt.Errorf("missing or incorrect annotation %s=%s", k, v)
		}
	}
	return p, nil
}

func orNone(s string) string {
	if s == "" {
		return "no digest"
	}
	return s
}

// ParseAnnotations parses cosign's -a KEY=VALUE flags (the value may contain "=").
func ParseAnnotations(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(flags))
	for _, f := range flags {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("annotation %q: want KEY=VALUE", f)
		}
		out[k] = v
	}
	return out, nil
}
