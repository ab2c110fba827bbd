package push

import (
	"context"
	"fmt"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/store"
)

// pushIndex pushes a stored index (a multi-platform image): every manifest it lists, each by digest
// with its layers as Push sends an image, then the index itself under dst, last, so a registry never
// holds an index whose manifests are not all there (a failed push leaves the tag as it was).
func pushIndex(ctx context.Context, st *store.Store, h v1.Hash, im *v1.IndexManifest, raw []byte, dst name.Reference, o Options) (Pushed, error) {
	for _, d := range im.Manifests {
		if _, err := Push(ctx, st, d.Digest, dst.Context().Digest(d.Digest.String()), o); err != nil {
			return Pushed{}, fmt.Errorf("pushing the %s image of the index: %w", platformOf(d), err)
		}
	}
	ref := o.reference(dst)
	ropts, err := o.remoteOptions(ctx, nil)
	if err != nil {
		return Pushed{}, err
	}
	mt := im.MediaType
	if mt == "" {
		mt = types.OCIImageIndex
	}
	if err := remote.Put(ref, rawManifest{raw: raw, mt: mt}, ropts...); err != nil {
		return Pushed{}, fmt.Errorf("pushing %s: %w", ref, describe(err))
	}
	return Pushed{Digest: dst.Context().Digest(h.String()), Size: int64(len(raw))}, nil
}

func platformOf(d v1.Descriptor) string {
	if d.Platform == nil {
		return d.Digest.String()
	}
	return d.Platform.String()
}

// rawManifest is a manifest to PUT as it is stored, with its media type.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

// RawManifest implements remote.Taggable.
func (m rawManifest) RawManifest() ([]byte, error) { return m.raw, nil }

// MediaType gives the Content-Type of the PUT.
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

var _ remote.Taggable = rawManifest{}
