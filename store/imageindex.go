package store

// Image indexes (OCI image index, Docker manifest list): a multi-platform build records its result
// under the tag as one index whose manifests are the per-platform images, as docker's containerd
// image store and podman's manifest lists do. The index blob and every manifest it lists are
// stored (WriteIndex writes the children first, so a stored index never points at a missing
// manifest); the children are not recorded in images.json: the index is the image, listed once.
//
// Where a command needs one image of an index (run, history, the config shown by inspect and
// images), it takes the manifest for this host's platform, or for the platform asked (ImageFor).
// The image ID of an index is the index digest, as with docker's containerd store.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/internal/platform"
)

// isIndexBlob reports whether raw is an image index (it has a "manifests" array).
func isIndexBlob(raw []byte) bool {
	var probe struct {
		Manifests *json.RawMessage `json:"manifests"`
	}
	return json.Unmarshal(raw, &probe) == nil && probe.Manifests != nil
}

// parseIndex parses a stored index and checks its manifest digests.
func parseIndex(raw []byte) (*v1.IndexManifest, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing index: %w", err)
	}
	for _, d := range im.Manifests {
		if err := validateDigest(d.Digest); err != nil {
			return nil, fmt.Errorf("index manifest: %w", err)
		}
	}
	return im, nil
}

// IsIndex reports whether the stored manifest blob h is an image index.
func (s *Store) IsIndex(h v1.Hash) (bool, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return false, err
	}
	return isIndexBlob(raw), nil
}

// IndexManifest returns the stored index h, parsed. An image manifest gives ErrUnsupported.
func (s *Store) IndexManifest(h v1.Hash) (*v1.IndexManifest, []byte, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	if !isIndexBlob(raw) {
		return nil, nil, fmt.Errorf("%s is not an image index: %w", h, ErrUnsupported)
	}
	im, err := parseIndex(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	return im, raw, nil
}

// ImageFor returns the image h stands for on platform want (nil: this host's): h itself when it is
// an image manifest (whatever its platform: the caller checks it if it must), or the manifest of an
// index whose platform matches want (containerd's rules; see internal/platform.Match). It returns
// the image's manifest digest. An index without a stored manifest for want gives an error wrapping
// ErrNotFound that names the platforms it has.
func (s *Store) ImageFor(h v1.Hash, want *v1.Platform) (v1.Image, v1.Hash, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("reading image %s: %w", h, err)
	}
	if !isIndexBlob(raw) {
		img, err := s.Image(h)
		return img, h, err
	}
	im, err := parseIndex(raw)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("reading index %s: %w", h, err)
	}
	p := platform.Host()
	if want != nil {
		p = *want
	}
	d, err := selectManifest(im, p)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	img, err := s.Image(d.Digest)
	return img, d.Digest, err
}

// selectManifest picks the image manifest for p from an index.
func selectManifest(im *v1.IndexManifest, p v1.Platform) (v1.Descriptor, error) {
	var have []string
	for _, d := range im.Manifests {
		if d.Platform == nil || !isImageManifest(d.MediaType) {
			continue
		}
		if platform.Match(p, *d.Platform) {
			return d, nil
		}
		have = append(have, platform.Format(*d.Platform))
	}
	return v1.Descriptor{}, fmt.Errorf("no image for %s in the index (it has %s): %w", platform.Format(p), strings.Join(have, ", "), ErrNotFound)
}

// defaultManifest is the manifest that stands for h where one image is shown: h itself, or for an
// index the host's manifest, else its first image manifest.
func (s *Store) defaultManifest(h v1.Hash) (v1.Hash, *v1.IndexManifest, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	if !isIndexBlob(raw) {
		return h, nil, nil
	}
	im, err := parseIndex(raw)
	if err != nil {
		return v1.Hash{}, nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	if d, err := selectManifest(im, platform.Host()); err == nil {
		return d.Digest, im, nil
	}
	for _, d := range im.Manifests {
		if isImageManifest(d.MediaType) {
			return d.Digest, im, nil
		}
	}
	return v1.Hash{}, nil, fmt.Errorf("index %s lists no image manifest: %w", h, ErrUnsupported)
}

// WriteIndex stores an index built from images this store can read (a multi-platform build's): every
// child image first (WriteImage: layers, config, manifest), then the index blob, so a stored index
// never lists a missing manifest. Only indexes of image manifests are accepted. It returns the
// index digest; it does not record it (see AddImage). Idempotent.
func (s *Store) WriteIndex(ctx context.Context, idx v1.ImageIndex) (v1.Hash, error) {
	mt, err := idx.MediaType()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing index: %w", err)
	}
	if mt != types.OCIImageIndex && mt != types.DockerManifestList {
		return v1.Hash{}, fmt.Errorf("writing index: media type %q: %w", mt, ErrUnsupported)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing index: %w", err)
	}
	for _, d := range im.Manifests {
		if !isImageManifest(d.MediaType) {
			return v1.Hash{}, fmt.Errorf("writing index: manifest %s of type %q: %w", d.Digest, d.MediaType, ErrUnsupported)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("writing index: %w", err)
		}
		if _, err := s.WriteImage(ctx, img); err != nil {
			return v1.Hash{}, err
		}
	}
	raw, err := idx.RawManifest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing index: %w", err)
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("writing index: %w", err)
	}
	if s.HasBlob(digest) {
		return digest, nil
	}
	if _, _, err := s.writeBlob(ctx, bytes.NewReader(raw), digest, int64(len(raw))); err != nil {
		return v1.Hash{}, fmt.Errorf("writing index %s: %w", digest, err)
	}
	return digest, nil
}

// indexChildrenStored checks that every manifest of index h is stored (before recording it).
func (s *Store) indexChildrenStored(im *v1.IndexManifest) error {
	for _, d := range im.Manifests {
		if !s.HasBlob(d.Digest) {
			return fmt.Errorf("index manifest %s: %w", d.Digest, ErrNotFound)
		}
	}
	return nil
}

// inspectIndex adds an index's descriptor and manifests to out (see ImageInspect.Descriptor).
func (s *Store) inspectIndex(out *ImageInspect, h v1.Hash, im *v1.IndexManifest) error {
	raw, err := s.readBlob(h)
	if err != nil {
		return err
	}
	mt := im.MediaType
	if mt == "" {
		mt = types.OCIImageIndex
	}
	out.ID = h.String()
	out.Descriptor = &v1.Descriptor{MediaType: mt, Digest: h, Size: int64(len(raw))}
	var size int64
	if size, err = s.indexSize(im); err != nil {
		return err
	}
	out.Size, out.VirtualSize = size, size
	for _, d := range im.Manifests {
		avail := s.HasBlob(d.Digest)
		if img, err := s.imageCore(d.Digest); err == nil {
			avail = s.Available(img.manifest.Config.Digest)
			for _, l := range img.manifest.Layers {
				avail = avail && s.Available(l.Digest)
			}
		}
		out.Manifests = append(out.Manifests, ManifestSummary{ID: d.Digest.String(), Descriptor: d, Available: avail, Kind: manifestKind(d)})
	}
	return nil
}

// ImageManifests returns the image manifests a recorded entry stands for: h itself, or each
// manifest of index h. Whoever walks every image's blobs (prune, disk usage) uses it.
func (s *Store) ImageManifests(h v1.Hash) ([]v1.Hash, error) {
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", h, err)
	}
	if !isIndexBlob(raw) {
		return []v1.Hash{h}, nil
	}
	im, err := parseIndex(raw)
	if err != nil {
		return nil, fmt.Errorf("reading index %s: %w", h, err)
	}
	out := make([]v1.Hash, 0, len(im.Manifests))
	for _, d := range im.Manifests {
		out = append(out, d.Digest)
	}
	return out, nil
}

// manifestKind is docker's ManifestSummary.Kind of an index entry: "attestation" for an attestation
// manifest (BuildKit's vnd.docker.reference.type annotation), else "image".
func manifestKind(d v1.Descriptor) string {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return "attestation"
	}
	return "image"
}
