package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hoistbuild/hoist/internal/ctxio"
)

// Archive formats accepted by Save.
const (
	// FormatDockerArchive is `docker save` output: manifest.json with
	// RepoTags, config and layer files; `docker load` reads it.
	FormatDockerArchive = "docker-archive"
	// FormatOCIArchive is a tar of an OCI image layout (oci-layout,
	// index.json, blobs/sha256/...).
	FormatOCIArchive = "oci-archive"
)

const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// savedImage is one image selected for Save.
type savedImage struct {
	manifest v1.Hash
	name     string // normalized tag, "" when selected by ID or digest
	// annotations are added to the image's descriptor in an OCI layout's index.json.
	annotations map[string]string
}

// resolveForSave resolves refs (see Resolve) under one index read.
func (s *Store) resolveForSave(ctx context.Context, refs []string) ([]savedImage, error) {
	if len(refs) == 0 {
		return nil, errors.New("saving images: no image references given")
	}
	idx, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]savedImage, 0, len(refs))
	for _, ref := range refs {
		r, err := s.resolveIn(idx, ref)
		if err != nil {
			return nil, fmt.Errorf("saving images: %w", err)
		}
		out = append(out, savedImage{manifest: r.manifest, name: r.name})
	}
	return out, nil
}

// Save writes the images refs resolve to (see Resolve) to w as a
// FormatDockerArchive or FormatOCIArchive tar. Images selected by name keep
// that name (docker-archive RepoTags, OCI ref.name annotations); images
// selected by ID or digest are saved untagged, as docker save does. Every
// blob is verified while being copied. On error w may hold a partial
// archive. The caller closes w.
func (s *Store) Save(ctx context.Context, w io.Writer, refs []string, format string) error {
	sel, err := s.resolveForSave(ctx, refs)
	if err != nil {
		return err
	}
	switch format {
	case FormatDockerArchive:
		return s.saveDocker(ctx, w, sel)
	case FormatOCIArchive:
		return s.saveOCI(ctx, w, sel)
	default:
		return fmt.Errorf("saving images: format %q: %w", format, ErrUnsupported)
	}
}

// SaveImage writes the stored image with manifest digest h to w as a FormatDockerArchive or
// FormatOCIArchive tar, named by names (ParseName syntax; none: untagged). annotations are added to
// its descriptor in an OCI layout's index.json (a docker archive has no place for them). Blobs are
// verified as they are copied; on error w may hold a partial archive. The caller closes w.
func (s *Store) SaveImage(ctx context.Context, w io.Writer, h v1.Hash, names []string, format string, annotations map[string]string) error {
	sel := []savedImage{{manifest: h, annotations: annotations}}
	if len(names) > 0 {
		sel = sel[:0]
		for _, n := range names {
			ref, err := ParseName(n)
			if err != nil {
				return fmt.Errorf("saving image: %w", err)
			}
			sel = append(sel, savedImage{manifest: h, name: NormalizedName(ref), annotations: annotations})
		}
	}
	switch format {
	case FormatDockerArchive:
		return s.saveDocker(ctx, w, sel)
	case FormatOCIArchive:
		return s.saveOCI(ctx, w, sel)
	default:
		return fmt.Errorf("saving image: format %q: %w", format, ErrUnsupported)
	}
}

func (s *Store) saveDocker(ctx context.Context, w io.Writer, sel []savedImage) error {
	imgs := map[v1.Hash]v1.Image{} // one value per image so ggcr dedups it
	refToImage := map[name.Reference]v1.Image{}
	for _, si := range sel {
		img, ok := imgs[si.manifest]
		if !ok {
			var err error
			// docker save of a multi-platform image writes this host's platform.
			if img, _, err = s.ImageFor(si.manifest, nil); err != nil {
				return fmt.Errorf("saving images: %w", err)
			}
			imgs[si.manifest] = img
		}
		var ref name.Reference
		if si.name != "" {
			t, err := name.NewTag(familiar(si.name))
			if err != nil {
				return fmt.Errorf("saving images: %w", err)
			}
			ref = t
		} else {
			// An untagged entry; ggcr writes no RepoTags for digest refs.
			d, err := name.NewDigest("hoist/untagged@" + si.manifest.String())
			if err != nil {
				return fmt.Errorf("saving images: %w", err)
			}
			ref = d
		}
		refToImage[ref] = img
	}
	if err := tarball.MultiRefWrite(refToImage, ctxio.Writer(ctx, w)); err != nil {
		return fmt.Errorf("saving docker archive: %w", err)
	}
	return nil
}

// Load reads a docker-archive or oci-archive tar (optionally gzip
// compressed) from r and stores its images. The format is detected:
// manifest.json means docker-archive (docker's own and ggcr's), otherwise
// oci-layout + index.json means OCI. Unless r is a regular uncompressed
// file, the archive is first spooled to a temp file in root/tmp.
//
// Every blob is verified (OCI: against its digest; docker-archive: layer
// diff IDs against the config, config against its file name when that is a
// digest) before anything is recorded, and all images are recorded in one
// atomic index update. Names come from docker-archive RepoTags and from OCI
// io.containerd.image.name annotations, or ref.name annotations that are
// full references (a bare tag such as "latest" is ignored). It returns, per
// image, its familiar names, or its image ID ("sha256:...") if it has none.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]string, error) {
	ra, base, size, cleanup, err := s.spool(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	defer cleanup()
	arc, err := indexTar(ctx, ra, base, size)
	if err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	var loaded []loadedImage
	switch {
	case arc.has("manifest.json"):
		loaded, err = s.loadDocker(ctx, arc)
	case arc.has("oci-layout") && arc.has("index.json"):
		loaded, err = s.loadOCI(ctx, arc)
	default:
		err = fmt.Errorf("no manifest.json or oci-layout: %w", ErrUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	pending := make([]pendingImage, 0, len(loaded))
	var out []string
	for _, l := range loaded {
		pending = append(pending, pendingImage{manifest: l.manifest, names: l.names})
		if len(l.names) == 0 {
			out = append(out, l.id.String())
		}
		for _, n := range l.names {
			out = append(out, familiar(n))
		}
	}
	if err := s.recordImages(ctx, pending); err != nil {
		return nil, fmt.Errorf("loading archive: %w", err)
	}
	return out, nil
}

// loadedImage is an image whose blobs are stored, awaiting recording.
type loadedImage struct {
	manifest v1.Hash
	id       v1.Hash
	names    []string // normalized
}
