package sign

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/push"
)

// Cosign's names in a signature manifest.
const (
	// PayloadMediaType is the media type of a signature layer: the simple-signing payload.
	PayloadMediaType types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	// SignatureAnnotation is the layer annotation holding the base64 ECDSA signature of the payload.
	SignatureAnnotation = "dev.cosignproject.cosign/signature"
)

// maxPayloadSize bounds a signature layer read by verify (cosign's default limit is 128 MiB; a
// simple-signing payload is a few hundred bytes).
const maxPayloadSize = 1 << 20

// SignatureTag is where cosign keeps the signatures of manifest digest h in repo:
// the tag "sha256-<hex>.sig".
func SignatureTag(repo name.Repository, h v1.Hash) name.Tag {
	return repo.Tag(fmt.Sprintf("%s-%s.sig", h.Algorithm, h.Hex))
}

// Signature is one layer of a signature manifest: the payload and its signature.
type Signature struct {
	// Payload is the signed document's bytes; Base64 the signature annotation as stored.
	Payload []byte
	Base64  string
	// Descriptor is the layer's descriptor in the signature manifest.
	Descriptor v1.Descriptor
}

// emptySignatures is the base of a new signature manifest, as cosign's empty.Signatures: an
// OCI manifest with an OCI config media type and no layers.
func emptySignatures() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

// appendSignature is base (the existing signature manifest, or emptySignatures) with one more
// layer: payload, annotated with its base64 signature (cosign's mutate.AppendSignatures).
func appendSignature(base v1.Image, payload []byte, b64sig string) (v1.Image, error) {
	return mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, PayloadMediaType),
		Annotations: map[string]string{SignatureAnnotation: b64sig},
	})
}

// signatures reads the signature manifest at tag: nil when there is none (not an error), else
// its layers' descriptors. read fetches a layer's payload when called.
func fetchSignatures(ctx context.Context, tag name.Tag, o push.Options) (v1.Image, []v1.Descriptor, error) {
	img, err := push.RemoteImage(ctx, tag, o)
	if errors.Is(err, push.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading signatures: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading signatures: %w", err)
	}
	return img, m.Layers, nil
}

// readSignature fetches the layer d of the signature manifest img and checks its size and digest
// against d before anything else looks at it.
func readSignature(img v1.Image, d v1.Descriptor) (Signature, error) {
	b64, ok := d.Annotations[SignatureAnnotation]
	if !ok {
		return Signature{}, fmt.Errorf("no %s annotation", SignatureAnnotation)
	}
	if d.Size > maxPayloadSize || d.Size < 0 {
		return Signature{}, fmt.Errorf("payload of %d bytes is over the %d-byte limit", d.Size, maxPayloadSize)
	}
	l, err := img.LayerByDigest(d.Digest)
	if err != nil {
		return Signature{}, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return Signature{}, fmt.Errorf("fetching the payload: %w", err)
	}
	defer rc.Close()
	payload, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return Signature{}, fmt.Errorf("fetching the payload: %w", err)
	}
	sum := sha256.Sum256(payload)
	if got := (v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}); int64(len(payload)) != d.Size || got != d.Digest {
		return Signature{}, fmt.Errorf("payload blob is %d bytes with digest %s, the manifest says %d bytes, %s", len(payload), got, d.Size, d.Digest)
	}
	return Signature{Payload: payload, Base64: b64, Descriptor: d}, nil
}

// raw decodes the base64 signature.
func (s Signature) raw() ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s.Base64)
	if err != nil {
		return nil, fmt.Errorf("signature annotation is not base64: %w", err)
	}
	return b, nil
}

// sameAs reports whether s is a signature by key of payload with media type mt: cosign's duplicate
// detection (signing the same image with the same key again adds no layer).
func (s Signature) sameAs(payload []byte, mt types.MediaType, v *verifier) bool {
	if s.Descriptor.MediaType != mt || !bytes.Equal(s.Payload, payload) {
		return false
	}
	sig, err := s.raw()
	return err == nil && v.verify(sig, payload) == nil
}
