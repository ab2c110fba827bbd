// Package sign signs images in a registry and verifies their signatures in cosign's format, with
// a key pair in cosign's files (offline: no transparency log, no certificates).
//
// What a signature is (cosign's "simple signing" layout, which cosign, policy-controller and
// Kyverno read): for the manifest (or index) digest D of an image in repository R, the tag
// R:sha256-<hex of D>.sig holds an OCI image manifest whose layers are payloads of media type
// PayloadMediaType, each a JSON document naming D (critical.image.docker-manifest-digest), each with
// the annotation SignatureAnnotation: the base64 ASN.1 ECDSA P-256 signature of the payload's
// SHA-256. Signing again appends a layer (unless the same key already signed the same payload).
package sign

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/push"
)

// Signed describes a finished Sign.
type Signed struct {
	// Image is the signed manifest by digest; Tag the signature manifest's tag.
	Image name.Digest
	Tag   name.Tag
	// Payload is the signed document; Added is false when an identical signature by the same key
	// was already there (nothing was pushed).
	Payload []byte
	Added   bool
}

// Sign signs the image ref names (a tag is resolved to the manifest or index digest it points at
// now; an index is signed as the index, not per platform) with key, and pushes the signature to the
// image's repository as cosign does: appended to the existing signature manifest, if any. The
// payload's optional section holds annotations.
func Sign(ctx context.Context, ref name.Reference, key *ecdsa.PrivateKey, annotations map[string]string, o push.Options) (Signed, error) {
	h, err := Resolve(ctx, ref, o)
	if err != nil {
		return Signed{}, err
	}
	repo := ref.Context()
	payload, err := NewPayload(repo.Name(), h, annotations)
	if err != nil {
		return Signed{}, err
	}
	out := Signed{Image: repo.Digest(h.String()), Tag: SignatureTag(repo, h), Payload: payload}
	base, existing, err := fetchSignatures(ctx, out.Tag, o)
	if err != nil {
		return Signed{}, err
	}
	v := &verifier{key: &key.PublicKey}
	for _, d := range existing {
		if s, err := readSignature(base, d); err == nil && s.sameAs(payload, PayloadMediaType, v) {
			return out, nil
		}
	}
	sum := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, sum[:])
	if err != nil {
		return Signed{}, fmt.Errorf("signing: %w", err)
	}
	if base == nil {
		base = emptySignatures()
	}
	img, err := appendSignature(base, payload, base64.StdEncoding.EncodeToString(sig))
	if err != nil {
		return Signed{}, err
	}
	if _, err := push.Write(ctx, img, out.Tag, o); err != nil {
		return Signed{}, err
	}
	out.Added = true
	return out, nil
}

// Resolve returns the digest of the manifest or index ref names in its registry now. For a digest
// reference the registry's answer is checked against it.
func Resolve(ctx context.Context, ref name.Reference, o push.Options) (v1.Hash, error) {
	raw, _, err := push.Manifest(ctx, ref, o)
	if err != nil {
		return v1.Hash{}, err
	}
	sum := sha256.Sum256(raw)
	h := v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
	if d, ok := ref.(name.Digest); ok && d.DigestStr() != h.String() {
		return v1.Hash{}, fmt.Errorf("%s: the registry served a manifest with digest %s", ref, h)
	}
	return h, nil
}

// verifier checks ECDSA signatures over SHA-256 digests of payloads (sigstore's ECDSAVerifier).
type verifier struct {
	key *ecdsa.PublicKey
}

// errBadSignature means a signature does not verify with the key given.
var errBadSignature = errors.New("signature does not verify with the public key given (signed with another key, or the payload was changed)")

func (v *verifier) verify(sig, payload []byte) error {
	sum := sha256.Sum256(payload)
	if !ecdsa.VerifyASN1(v.key, sum[:], sig) {
		return errBadSignature
	}
	return nil
}
