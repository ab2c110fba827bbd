package store

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/internal/ctxio"
)

const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// saveOCI writes a tar of an OCI image layout holding sel: oci-layout,
// index.json (one descriptor per selected name or image, named ones with
// ref.name and io.containerd.image.name annotations set to the normalized
// name) and blobs/sha256/<hex>, each blob once.
func (s *Store) saveOCI(ctx context.Context, w io.Writer, sel []savedImage) error {
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	var blobs []v1.Hash
	seenBlob := map[v1.Hash]bool{}
	type descKey struct {
		manifest v1.Hash
		name     string
	}
	seenDesc := map[descKey]bool{}
	addBlob := func(h v1.Hash) {
		if !seenBlob[h] {
			seenBlob[h] = true
			blobs = append(blobs, h)
		}
	}
	for _, si := range sel {
		if seenDesc[descKey{si.manifest, si.name}] {
			continue
		}
		seenDesc[descKey{si.manifest, si.name}] = true
		d, err := s.ociDescriptor(si.manifest, addBlob)
		if err != nil {
			return fmt.Errorf("saving oci archive: %w", err)
		}
		if si.name != "" || len(si.annotations) > 0 {
			d.Annotations = maps.Clone(si.annotations)
			if d.Annotations == nil {
				d.Annotations = map[string]string{}
			}
		}
		if si.name != "" {
			d.Annotations[annotationRefName] = si.name
			d.Annotations[annotationContainerdName] = si.name
		}
		index.Manifests = append(index.Manifests, d)
	}
	idxRaw, err := json.Marshal(index)
	if err != nil {
		return fmt.Errorf("saving oci archive: %w", err)
	}
	tw := tar.NewWriter(ctxio.Writer(ctx, w))
	if err := writeTarFile(tw, "oci-layout", bytes.NewReader([]byte(ociLayoutFile)), int64(len(ociLayoutFile))); err != nil {
		return fmt.Errorf("saving oci archive: %w", err)
	}
	if err := writeTarFile(tw, "index.json", bytes.NewReader(idxRaw), int64(len(idxRaw))); err != nil {
		return fmt.Errorf("saving oci archive: %w", err)
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return fmt.Errorf("saving oci archive: %w", err)
		}
	}
	for _, h := range blobs {
		if err := s.copyBlobToTar(tw, h); err != nil {
			return fmt.Errorf("saving oci archive: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("saving oci archive: %w", err)
	}
	return nil
}

func (s *Store) copyBlobToTar(tw *tar.Writer, h v1.Hash) error {
	rc, err := s.OpenBlob(h) // first: it fetches a remote-backed blob
	if err != nil {
		return err
	}
	defer rc.Close()
	size, err := s.BlobSize(h)
	if err != nil {
		return err
	}
	return writeTarFile(tw, "blobs/sha256/"+h.Hex, rc, size)
}

// writeTarFile writes a regular file entry with normalized metadata. The
// content must be exactly size bytes; r's error (e.g. ErrCorrupt at EOF) is
// returned.
func writeTarFile(tw *tar.Writer, name string, r io.Reader, size int64) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, r)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("writing %s: %d bytes, want %d", name, n, size)
	}
	return nil
}

// loadOCI stores the images named by an OCI layout's index.json. An image
// index entry contributes its linux/<GOARCH> child manifest.
func (s *Store) loadOCI(ctx context.Context, arc *tarArchive) ([]loadedImage, error) {
	raw, err := arc.readAll("index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parsing index.json: %w", err)
	}
	if len(idx.Manifests) == 0 {
		return nil, fmt.Errorf("index.json lists no images: %w", ErrNotFound)
	}
	var out []loadedImage
	for i, d := range idx.Manifests {
		li, err := s.loadOCIDescriptor(ctx, arc, d, 0)
		if err != nil {
			return nil, fmt.Errorf("index.json entry %d (%s): %w", i, d.Digest, err)
		}
		if n := annotationName(d.Annotations); n != "" {
			li.names = []string{n}
		}
		out = append(out, li)
	}
	return out, nil
}

// annotationName returns the normalized tag named by a descriptor's
// annotations, or "": io.containerd.image.name first, then ref.name when it
// is a full reference (contains '/' or ':'; a bare "latest" is ambiguous).
func annotationName(a map[string]string) string {
	for _, v := range []string{a[annotationContainerdName], a[annotationRefName]} {
		if v == "" || !strings.ContainsAny(v, "/:") {
			continue
		}
		if t, err := parseTag(v); err == nil {
			return NormalizedName(t)
		}
	}
	return ""
}

func (s *Store) loadOCIDescriptor(ctx context.Context, arc *tarArchive, d v1.Descriptor, depth int) (loadedImage, error) {
	if err := validateDigest(d.Digest); err != nil {
		return loadedImage{}, err
	}
	raw, err := readArchiveBlob(arc, d.Digest)
	if err != nil {
		return loadedImage{}, err
	}
	if d.MediaType.IsIndex() {
		if depth > 4 {
			return loadedImage{}, fmt.Errorf("image indexes nested too deeply: %w", ErrUnsupported)
		}
		child, err := pickPlatform(raw)
		if err != nil {
			return loadedImage{}, err
		}
		return s.loadOCIDescriptor(ctx, arc, child, depth+1)
	}
	m, _, err := parseImageManifest(raw)
	if err != nil {
		return loadedImage{}, err
	}
	for _, b := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if s.HasBlob(b.Digest) {
			continue
		}
		r, err := arc.open(blobEntry(b.Digest))
		if err != nil {
			return loadedImage{}, err
		}
		if _, _, err := s.writeBlob(ctx, r, b.Digest, b.Size); err != nil {
			return loadedImage{}, fmt.Errorf("blob %s: %w", b.Digest, err)
		}
	}
	if _, _, err := s.writeBlob(ctx, bytes.NewReader(raw), d.Digest, int64(len(raw))); err != nil {
		return loadedImage{}, fmt.Errorf("manifest: %w", err)
	}
	return loadedImage{manifest: d.Digest, id: m.Config.Digest}, nil
}

func blobEntry(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// readArchiveBlob reads a small blob from the layout and verifies it.
func readArchiveBlob(arc *tarArchive, h v1.Hash) ([]byte, error) {
	raw, err := arc.readAll(blobEntry(h))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(raw)
	if got := hex.EncodeToString(sum[:]); got != h.Hex {
		return nil, fmt.Errorf("blob %s has digest sha256:%s: %w", h, got, ErrCorrupt)
	}
	return raw, nil
}

// ociDescriptor is the descriptor of stored manifest h for an OCI layout's index.json; it adds the
// blobs h needs (for an index: each manifest's too), then h, to the archive.
func (s *Store) ociDescriptor(h v1.Hash, addBlob func(v1.Hash)) (v1.Descriptor, error) {
	if im, raw, err := s.IndexManifest(h); err == nil {
		for _, c := range im.Manifests {
			if _, err := s.ociDescriptor(c.Digest, addBlob); err != nil {
				return v1.Descriptor{}, err
			}
		}
		addBlob(h)
		mt := im.MediaType
		if mt == "" {
			mt = types.OCIImageIndex
		}
		return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: h}, nil
	}
	img, err := s.imageCore(h)
	if err != nil {
		return v1.Descriptor{}, err
	}
	addBlob(img.manifest.Config.Digest)
	for _, l := range img.manifest.Layers {
		addBlob(l.Digest)
	}
	addBlob(h)
	return v1.Descriptor{MediaType: img.mediaType, Size: int64(len(img.raw)), Digest: h}, nil
}

// pickPlatform chooses the linux/<GOARCH> manifest of an image index.
func pickPlatform(raw []byte) (v1.Descriptor, error) {
	idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("parsing image index: %w", err)
	}
	for _, c := range idx.Manifests {
		if p := c.Platform; p != nil && p.OS == "linux" && p.Architecture == runtime.GOARCH {
			return c, nil
		}
	}
	return v1.Descriptor{}, fmt.Errorf("image index has no linux/%s manifest: %w", runtime.GOARCH, ErrNotFound)
}
