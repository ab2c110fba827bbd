package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ImageUser is something outside the store that uses a stored image: a container created from it.
type ImageUser struct {
	ID      string  // the container's ID
	Image   v1.Hash // the manifest it was created from
	Running bool
}

// Users lists the current users of stored images. It must be safe for concurrent use; the store calls
// it without holding any of its locks.
type Users func(ctx context.Context) ([]ImageUser, error)

// WithUsers makes the store protect the images users returns, as docker protects the images of its
// containers: Remove refuses to delete one (InUseError), PruneImages keeps them, and InUse reports them
// to other collectors (the build-cache prune). Without it nothing is protected.
func WithUsers(u Users) Option { return func(s *Store) { s.users = u } }

// InUseError is Remove's refusal to delete an image a container uses. It wraps ErrConflict.
type InUseError struct {
	Ref       string // the reference given to Remove
	Container string // the user's short ID
	Running   bool   // running: even force does not remove it
}

func (e *InUseError) Error() string {
	if e.Running {
		return fmt.Sprintf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", e.Ref, e.Container)
	}
	return fmt.Sprintf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image", e.Ref, e.Container)
}

func (e *InUseError) Unwrap() error { return ErrConflict }

// InUse returns the manifests of the images the store's Users use (none without WithUsers), and
// the recorded indexes that list one of them (a container runs one platform's image of an index).
func (s *Store) InUse(ctx context.Context) ([]v1.Hash, error) {
	users, err := s.imageUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]v1.Hash, 0, len(users))
	for _, u := range users {
		if !slices.Contains(out, u.Image) {
			out = append(out, u.Image)
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	idx, err := s.readIndex(ctx)
	if err != nil {
		return nil, err
	}
	for k := range idx.Images {
		h, _ := v1.NewHash(k)
		ms := s.manifestsOf(h)
		if len(ms) > 1 && slices.ContainsFunc(ms[1:], func(m v1.Hash) bool { return slices.Contains(out, m) }) {
			out = append(out, h)
		}
	}
	return out, nil
}

// manifestsOf is h and, when h is a stored index, the manifests it lists.
func (s *Store) manifestsOf(h v1.Hash) []v1.Hash {
	out := []v1.Hash{h}
	if im, _, err := s.IndexManifest(h); err == nil {
		for _, d := range im.Manifests {
			out = append(out, d.Digest)
		}
	}
	return out
}

func (s *Store) imageUsers(ctx context.Context) ([]ImageUser, error) {
	if s.users == nil {
		return nil, nil
	}
	users, err := s.users(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the users of images: %w", err)
	}
	return users, nil
}

// checkNotInUse refuses, as docker does, to delete an image a container was created from: without
// force when any container uses it, and always when a running one does. Removing one of several
// names only untags and is always allowed. A reference that does not resolve passes (Remove reports
// it).
func (s *Store) checkNotInUse(ctx context.Context, ref string, force bool) error {
	if s.users == nil {
		return nil
	}
	h, err := s.Resolve(ctx, ref)
	if err != nil {
		return nil
	}
	if ref != h.String() && !strings.HasPrefix(h.Hex, strings.TrimPrefix(ref, "sha256:")) {
		list, err := s.List(ctx)
		if err != nil {
			return err
		}
		for _, im := range list {
			if im.Manifest == h && len(im.Names) > 1 {
				return nil // just an untag
			}
		}
	}
	users, err := s.imageUsers(ctx)
	if err != nil {
		return err
	}
	return inUse(users, s.manifestsOf(h), ref, force)
}

// inUse returns the InUseError for removing the image of manifests ms (named ref: a manifest, or an
// index and its manifests) while users use images, or nil.
func inUse(users []ImageUser, ms []v1.Hash, ref string, force bool) error {
	for _, u := range users {
		if !slices.Contains(ms, u.Image) {
			continue
		}
		short := u.ID
		if len(short) > 12 {
			short = short[:12]
		}
		if u.Running || !force {
			return &InUseError{Ref: ref, Container: short, Running: u.Running}
		}
	}
	return nil
}
