package sign

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/push"
)

// Sentinel errors of Verify, for errors.Is.
var (
	// ErrNoSignatures means the image has no signature manifest, or one without layers.
	ErrNoSignatures = errors.New("no signatures found")
	// ErrNoMatchingSignatures means no signature passed every check (each one's reason is in the
	// message).
	ErrNoMatchingSignatures = errors.New("no matching signatures")
)

// Verified is what Verify accepted.
type Verified struct {
	// Image is the verified manifest by digest.
	Image name.Digest
	// Payloads are the payloads of the signatures that passed, in manifest order.
	Payloads []Payload
}

// Verify checks the signatures of the image ref names, as cosign verify --key does without a
// transparency log: it resolves ref to the manifest digest D the registry serves now, reads the
// signature manifest at SignatureTag(D), and for every layer checks the blob's size and digest
// against the manifest, the signature annotation against the payload with key, and the payload's
// claims (checkClaims: it signs D, carries every annotation of want, is an image signature). At
// least one layer must pass; the result lists those that did. Failures wrap ErrNoSignatures or
// ErrNoMatchingSignatures.
func Verify(ctx context.Context, ref name.Reference, key *ecdsa.PublicKey, want map[string]string, o push.Options) (Verified, error) {
	h, err := Resolve(ctx, ref, o)
	if err != nil {
		return Verified{}, err
	}
	out := Verified{Image: ref.Context().Digest(h.String())}
	img, layers, err := fetchSignatures(ctx, SignatureTag(ref.Context(), h), o)
	if err != nil {
		return Verified{}, err
	}
	if len(layers) == 0 {
		return Verified{}, fmt.Errorf("%w for %s", ErrNoSignatures, out.Image)
	}
	v := &verifier{key: key}
	var reasons []string
	for i, d := range layers {
		p, err := verifyLayer(img, d, h, v, want)
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("signature %d (%s): %v", i+1, d.Digest, err))
			continue
		}
		out.Payloads = append(out.Payloads, p)
	}
	if len(out.Payloads) == 0 {
		return Verified{}, fmt.Errorf("%w for %s: %s", ErrNoMatchingSignatures, out.Image, strings.Join(reasons, "; "))
	}
	return out, nil
}

// verifyLayer checks one signature layer: blob, signature, claims.
func verifyLayer(img v1.Image, d v1.Descriptor, h v1.Hash, v *verifier, want map[string]string) (Payload, error) {
	s, err := readSignature(img, d)
	if err != nil {
		return Payload{}, err
	}
	sig, err := s.raw()
	if err != nil {
		return Payload{}, err
	}
	if err := v.verify(sig, s.Payload); err != nil {
		return Payload{}, err
	}
	return checkClaims(s.Payload, h, want)
}

// Report prints v as cosign verify does: on stderr the checks performed ("Verification for REF
// --" and one line per check), on stdout an empty line, then the verified payloads as one JSON
// array (cosign's fmt.Printf("\n%s\n")).
func Report(stdout, stderr io.Writer, refName string, v Verified, annotations bool) error {
	fmt.Fprintf(stderr, "\nVerification for %s --\nThe following checks were performed on each of these signatures:\n", refName)
	if annotations {
		fmt.Fprintln(stderr, "  - The specified annotations were verified.")
	}
	fmt.Fprintln(stderr, "  - The cosign claims were validated")
	fmt.Fprintln(stderr, "  - The signatures were verified against the specified public key")
	b, err := json.Marshal(v.Payloads)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "\n%s\n", b)
	return err
}
