package sign

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/push"
)

// newRegistry serves ggcr's in-memory registry on a loopback port and returns its host:port.
func newRegistry(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

func opts() push.Options { return push.Options{Keychain: push.Keychain()} }

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// pushImage writes img to ref (insecure: the test registry is plain HTTP) and returns its digest.
func pushImage(t *testing.T, ref string, img v1.Image) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func newKey(t *testing.T, password string) (*ecdsa.PrivateKey, *ecdsa.PublicKey) {
	t.Helper()
	kp, err := GenerateKeyPair([]byte(password))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(kp.Private, []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(kp.Public)
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(pub) {
		t.Fatal("the public key file is not the private key's")
	}
	return priv, pub
}

func TestKeyPairPassword(t *testing.T) {
	kp, err := GenerateKeyPair([]byte("right"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(kp.Private), "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n") {
		t.Errorf("private key file starts %q", kp.Private[:50])
	}
	if _, err := ParsePrivateKey(kp.Private, []byte("wrong")); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("wrong password: %v, want ErrWrongPassword", err)
	}
	if _, err := ParsePrivateKey(kp.Public, []byte("right")); err == nil {
		t.Error("a public key parsed as a private key")
	}
	if _, err := ParsePublicKey(kp.Private); err == nil {
		t.Error("a private key parsed as a public key")
	}
}

func TestWriteKeyPairRefusesToOverwrite(t *testing.T) {
	prefix := t.TempDir() + "/cosign"
	kp, err := GenerateKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := WriteKeyPair(kp, prefix, false); err != nil {
		t.Fatal(err)
	}
	kp2, _ := GenerateKeyPair(nil)
	if _, _, err := WriteKeyPair(kp2, prefix, false); err == nil || !strings.Contains(err.Error(), "cosign.key already exists") {
		t.Errorf("second write without force: %v", err)
	}
	if _, _, err := WriteKeyPair(kp2, prefix, true); err != nil {
		t.Errorf("--force: %v", err)
	}
}

func TestPayloadIsCosigns(t *testing.T) {
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	got, err := NewPayload("127.0.0.1:5000/team/app", h, nil)
	if err != nil {
		t.Fatal(err)
	}
	// sigstore's payload.Cosign{Image: ...}.MarshalJSON() for the same digest, byte for byte.
	want := `{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/app"},"image":{"docker-manifest-digest":"sha256:` +
		strings.Repeat("ab", 32) + `"},"type":"cosign container image signature"},"optional":null}`
	if string(got) != want {
		t.Errorf("payload\n%s\nwant\n%s", got, want)
	}
	got, _ = NewPayload("r/a", h, map[string]string{"b": "2", "a": "1"})
	if !strings.HasSuffix(string(got), `"optional":{"a":"1","b":"2"}}`) {
		t.Errorf("annotations: %s", got)
	}
}

func TestSignVerify(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	h := pushImage(t, reg+"/team/app:1", randomImage(t))
	priv, pub := newKey(t, "pw")
	ref := mustRef(t, reg+"/team/app:1")

	s, err := Sign(ctx, ref, priv, nil, opts())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Added || s.Image.DigestStr() != h.String() || s.Tag.String() != reg+"/team/app:sha256-"+h.Hex+".sig" {
		t.Errorf("signed %+v, want digest %s", s, h)
	}
	sigImg, err := remote.Image(s.Tag)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := sigImg.Manifest()
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != PayloadMediaType || m.Layers[0].Annotations[SignatureAnnotation] == "" {
		t.Errorf("signature manifest is not cosign's shape: %+v", m)
	}

	v, err := Verify(ctx, ref, pub, nil, opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Payloads) != 1 || v.Payloads[0].Critical.Image.DockerManifestDigest != h.String() ||
		v.Payloads[0].Critical.Identity.DockerReference != reg+"/team/app" {
		t.Errorf("verified %+v", v)
	}
	// By digest too.
	if _, err := Verify(ctx, mustRef(t, reg+"/team/app@"+h.String()), pub, nil, opts()); err != nil {
		t.Errorf("verify by digest: %v", err)
	}

	// The same key and payload again: nothing added (cosign's duplicate detection).
	if s, err := Sign(ctx, ref, priv, nil, opts()); err != nil || s.Added {
		t.Errorf("re-sign: added=%v err=%v", s.Added, err)
	}
	// An annotated signature is appended to the existing manifest.
	if _, err := Sign(ctx, ref, priv, map[string]string{"commit": "abc"}, opts()); err != nil {
		t.Fatal(err)
	}
	if sigImg, _ = remote.Image(s.Tag); true {
		if m, _ := sigImg.Manifest(); len(m.Layers) != 2 {
			t.Errorf("signature manifest has %d layers after a second, different signature, want 2", len(m.Layers))
		}
	}
	v, err = Verify(ctx, ref, pub, map[string]string{"commit": "abc"}, opts())
	if err != nil || len(v.Payloads) != 1 || v.Payloads[0].Optional["commit"] != "abc" {
		t.Errorf("verify -a commit=abc: %+v %v", v, err)
	}
	_, err = Verify(ctx, ref, pub, map[string]string{"commit": "other"}, opts())
	if !errors.Is(err, ErrNoMatchingSignatures) || !strings.Contains(err.Error(), "missing or incorrect annotation commit=other") {
		t.Errorf("verify -a commit=other: %v", err)
	}
}

// TestVerifyRefuses is the attack list: each is refused with its own reason.
func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	priv, pub := newKey(t, "")
	img := randomImage(t)
	h := pushImage(t, reg+"/team/app:1", img)
	ref := mustRef(t, reg+"/team/app:1")
	if _, err := Verify(ctx, ref, pub, nil, opts()); !errors.Is(err, ErrNoSignatures) {
		t.Errorf("unsigned image: %v, want ErrNoSignatures", err)
	}
	if _, err := Sign(ctx, ref, priv, nil, opts()); err != nil {
		t.Fatal(err)
	}

	t.Run("another key", func(t *testing.T) {
		_, other := newKey(t, "")
		_, err := Verify(ctx, ref, other, nil, opts())
		if !errors.Is(err, ErrNoMatchingSignatures) || !strings.Contains(err.Error(), "does not verify with the public key") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("tampered config", func(t *testing.T) {
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.Config.User = "1" // one field of the config changed
		bad, err := mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		pushImage(t, reg+"/tamper/config:1", img)
		if _, err := Sign(ctx, mustRef(t, reg+"/tamper/config:1"), priv, nil, opts()); err != nil {
			t.Fatal(err)
		}
		nh := pushImage(t, reg+"/tamper/config:1", bad) // re-pushed under the same tag
		_, err = Verify(ctx, mustRef(t, reg+"/tamper/config:1"), pub, nil, opts())
		if !errors.Is(err, ErrNoSignatures) || !strings.Contains(err.Error(), nh.String()) {
			t.Errorf("got %v, want no signatures for %s", err, nh)
		}
	})

	t.Run("tampered layer", func(t *testing.T) {
		// One byte of the first layer's blob flipped; the rest of the image as it was.
		layers, _ := img.Layers()
		rc, err := layers[0].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		b[len(b)/2] ^= 1
		bad, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(b, types.DockerLayer)}, mutate.Addendum{Layer: layers[1]})
		if err != nil {
			t.Fatal(err)
		}
		pushImage(t, reg+"/tamper/layer:1", img)
		if _, err := Sign(ctx, mustRef(t, reg+"/tamper/layer:1"), priv, nil, opts()); err != nil {
			t.Fatal(err)
		}
		pushImage(t, reg+"/tamper/layer:1", bad)
		if _, err := Verify(ctx, mustRef(t, reg+"/tamper/layer:1"), pub, nil, opts()); !errors.Is(err, ErrNoSignatures) {
			t.Errorf("got %v, want ErrNoSignatures", err)
		}
	})

	t.Run("signature of another digest replayed", func(t *testing.T) {
		other := randomImage(t)
		oh := pushImage(t, reg+"/team/app:2", other)
		// Copy image 1's signature manifest to image 2's signature tag.
		sigs, err := remote.Image(SignatureTag(mustRef(t, reg+"/team/app").Context(), h))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(SignatureTag(mustRef(t, reg+"/team/app").Context(), oh), sigs); err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, mustRef(t, reg+"/team/app:2"), pub, nil, opts())
		if !errors.Is(err, ErrNoMatchingSignatures) || !strings.Contains(err.Error(), "payload signs "+h.String()+", not this image ("+oh.String()+")") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("payload changed, signature kept", func(t *testing.T) {
		// A payload naming this image's digest with another annotation, under the original
		// signature (the attacker cannot sign): the signature no longer covers the bytes.
		forged, _ := NewPayload(reg+"/team/app", h, map[string]string{"approved": "yes"})
		sigs, _ := remote.Image(SignatureTag(mustRef(t, reg+"/team/app").Context(), h))
		m, _ := sigs.Manifest()
		b64 := m.Layers[0].Annotations[SignatureAnnotation]
		bad, err := appendSignature(emptySignatures(), forged, b64)
		if err != nil {
			t.Fatal(err)
		}
		pushImage(t, reg+"/forged/app:1", img)
		if err := remote.Write(SignatureTag(mustRef(t, reg+"/forged/app").Context(), h), bad); err != nil {
			t.Fatal(err)
		}
		_, err = Verify(ctx, mustRef(t, reg+"/forged/app:1"), pub, nil, opts())
		if !errors.Is(err, ErrNoMatchingSignatures) || !strings.Contains(err.Error(), "does not verify") {
			t.Errorf("got %v", err)
		}
	})

	t.Run("not base64", func(t *testing.T) {
		p, _ := NewPayload(reg+"/team/app", h, nil)
		bad, _ := appendSignature(emptySignatures(), p, "%%%")
		pushImage(t, reg+"/b64/app:1", img)
		if err := remote.Write(SignatureTag(mustRef(t, reg+"/b64/app").Context(), h), bad); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(ctx, mustRef(t, reg+"/b64/app:1"), pub, nil, opts()); err == nil || !strings.Contains(err.Error(), "not base64") {
			t.Errorf("got %v", err)
		}
	})
}

// TestVerifyOtherDockerReference: cosign does not compare the payload's docker-reference with the
// name verified (its SimpleClaimVerifier checks the digest and annotations only), so an image and
// its signatures copied to another repository still verify; hoist does the same.
func TestVerifyOtherDockerReference(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	priv, pub := newKey(t, "")
	img := randomImage(t)
	h := pushImage(t, reg+"/team/app:1", img)
	if _, err := Sign(ctx, mustRef(t, reg+"/team/app:1"), priv, nil, opts()); err != nil {
		t.Fatal(err)
	}
	sigs, _ := remote.Image(SignatureTag(mustRef(t, reg+"/team/app").Context(), h))
	pushImage(t, reg+"/copy/app:1", img)
	if err := remote.Write(SignatureTag(mustRef(t, reg+"/copy/app").Context(), h), sigs); err != nil {
		t.Fatal(err)
	}
	v, err := Verify(ctx, mustRef(t, reg+"/copy/app:1"), pub, nil, opts())
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Payloads[0].Critical.Identity.DockerReference; got != reg+"/team/app" {
		t.Errorf("docker-reference %q, want the signer's %s/team/app", got, reg)
	}
}

// TestVerifyChecksPayloadBlob: a registry serving other bytes for a signature payload blob than
// its digest says is refused before the signature is looked at.
func TestVerifyChecksPayloadBlob(t *testing.T) {
	_, pub := newKey(t, "")
	p := []byte(`{"critical":{}}`)
	good, _ := appendSignature(emptySignatures(), p, base64.StdEncoding.EncodeToString([]byte("x")))
	m, _ := good.Manifest()
	d := m.Layers[0]
	d.Size++ // the manifest now disagrees with the blob
	_, err := verifyLayer(good, d, v1.Hash{}, &verifier{key: pub}, nil)
	if err == nil || !strings.Contains(err.Error(), "the manifest says") {
		t.Errorf("got %v", err)
	}
}

// TestSignIndex: a tag naming a multi-platform index is signed as the index (cosign without
// --recursive), and verify checks the index's digest.
func TestSignIndex(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	idx, err := random.Index(128, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(reg+"/multi/app:1", name.Insecure)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	priv, pub := newKey(t, "")
	s, err := Sign(ctx, mustRef(t, reg+"/multi/app:1"), priv, nil, opts())
	if err != nil {
		t.Fatal(err)
	}
	if s.Image.DigestStr() != want.String() {
		t.Errorf("signed %s, want the index %s", s.Image.DigestStr(), want)
	}
	if _, err := Verify(ctx, mustRef(t, reg+"/multi/app:1"), pub, nil, opts()); err != nil {
		t.Error(err)
	}
}

// TestSignMissingImage: a digest or tag the registry does not have is not signed (cosign signs a
// bare digest blindly).
func TestSignMissingImage(t *testing.T) {
	reg := newRegistry(t)
	priv, _ := newKey(t, "")
	for _, ref := range []string{reg + "/none/app:1", reg + "/none/app@sha256:" + strings.Repeat("0", 64)} {
		if _, err := Sign(context.Background(), mustRef(t, ref), priv, nil, opts()); !errors.Is(err, push.ErrNotFound) {
			t.Errorf("sign %s: %v, want ErrNotFound", ref, err)
		}
	}
}

func TestParseAnnotations(t *testing.T) {
	got, err := ParseAnnotations([]string{"a=1", "url=http://x/?q=1", "empty="})
	if err != nil || got["a"] != "1" || got["url"] != "http://x/?q=1" || got["empty"] != "" || len(got) != 3 {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"novalue", "=v"} {
		if _, err := ParseAnnotations([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
