package sign

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// The recorded expectations in testdata/cosign were made by cosign v2.6.5 (testdata/cosign/record.sh):
// a key pair from `cosign generate-key-pair` with the password below, an image built by docker, and
// cosign's signature of it (`cosign sign --key cosign.key --tlog-upload=false`), copied byte for byte
// with `skopeo copy --preserve-digests` into an OCI layout whose refs are "image" and "sig".
const (
	cosignDir      = "testdata/cosign"
	cosignPassword = "hoist-test-password"
)

// recorded returns the image ref name of the recorded layout.
func recorded(t *testing.T, ref string) v1.Image {
	t.Helper()
	p, err := layout.FromPath(filepath.Join(cosignDir, "layout"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == ref {
			img, err := idx.Image(d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			return img
		}
	}
	t.Fatalf("no %q in the recorded layout", ref)
	return nil
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cosignDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRecordedCosignKey: hoist decrypts cosign's private key, and it is the key of cosign's .pub.
func TestRecordedCosignKey(t *testing.T) {
	priv, err := ParsePrivateKey(readFile(t, "cosign.key"), []byte(cosignPassword))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(readFile(t, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if !priv.PublicKey.Equal(pub) {
		t.Error("cosign.key does not hold cosign.pub's key")
	}
	if _, err := ParsePrivateKey(readFile(t, "cosign.key"), []byte("not it")); err != ErrWrongPassword {
		t.Errorf("wrong password: %v", err)
	}
}

// TestRecordedCosignSignature pushes cosign's recorded image and signature manifest to a loopback
// registry and verifies them with cosign's public key; then checks hoist makes the same bytes.
func TestRecordedCosignSignature(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	img, sigs := recorded(t, "image"), recorded(t, "sig")
	h := pushImage(t, reg+"/recorded/hello:1", img)
	if err := remote.Write(SignatureTag(mustRef(t, reg+"/recorded/hello").Context(), h), sigs); err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(readFile(t, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Verify(ctx, mustRef(t, reg+"/recorded/hello:1"), pub, nil, opts())
	if err != nil {
		t.Fatal(err)
	}
	signedRepo := strings.TrimSpace(string(readFile(t, "repository")))
	if len(v.Payloads) != 1 || v.Payloads[0].Critical.Identity.DockerReference != signedRepo {
		t.Errorf("verified %+v, want one payload naming %s (cosign signed it there)", v.Payloads, signedRepo)
	}

	// hoist's payload for the same digest and repository is cosign's, byte for byte, and hoist's
	// signature manifest around cosign's signature is cosign's manifest, byte for byte.
	m, _ := sigs.Manifest()
	s, err := readSignature(sigs, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	mine, err := NewPayload(signedRepo, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(mine) != string(s.Payload) {
		t.Errorf("hoist's payload\n%s\ncosign's\n%s", mine, s.Payload)
	}
	rebuilt, err := appendSignature(emptySignatures(), mine, s.Base64)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := rebuilt.RawManifest()
	want, _ := sigs.RawManifest()
	if string(got) != string(want) {
		t.Errorf("hoist's signature manifest\n%s\ncosign's\n%s", got, want)
	}

	// cosign's signature does not verify for another image, nor with another key.
	_, other := newKey(t, "")
	if _, err := Verify(ctx, mustRef(t, reg+"/recorded/hello:1"), other, nil, opts()); err == nil {
		t.Error("cosign's signature verified with another key")
	}
}
