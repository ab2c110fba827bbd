package container

import (
	"context"
	"errors"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/store"
)

// Pull policies of create and run (docker's --pull).
const (
	// PullMissing pulls the image when the store does not have it.
	PullMissing = "missing"
	// PullAlways pulls the image before every create.
	PullAlways = "always"
	// PullNever never pulls: a missing image is docker's "No such image".
	PullNever = "never"
)

// Puller pulls ref into the runtime's store (reporting progress as it likes): from an index, the
// image for platform (nil: this host's), as docker run --platform pulls that platform's.
type Puller func(ctx context.Context, ref string, platform *v1.Platform) error

// errWrongPlatform marks a stored image that has no image for --platform (it wraps ErrNoImage: with
// --pull missing the platform's image is pulled, as docker does).
var errWrongPlatform = fmt.Errorf("%w for the platform", ErrNoImage)

// checkPlatform parses --platform ("" gives nil: the image's own, or this host's from an index).
// Whether the platform's programs can run here is checked against the image (runnable).
func checkPlatform(p string) (*v1.Platform, error) {
	if p == "" {
		return nil, nil
	}
	plat, err := platform.Parse(p)
	if err != nil {
		return nil, fmt.Errorf("%w: --platform: %w", ErrBadOption, err)
	}
	return &plat, nil
}

// runnable checks that this machine can execute the programs of img: natively or through a
// binfmt_misc emulator (Debian's qemu-user-static). Docker starts the container and fails with
// "exec format error"; hoist says which platform and what to install before creating anything.
func (r *Runtime) runnable(img v1.Image, ref string) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("reading image config: %w", err)
	}
	if cf.OS == "" || cf.Architecture == "" {
		return nil // an image that does not say: try it, as docker does
	}
	p := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	if err := r.binfmt.Require(p); err != nil {
		return fmt.Errorf("%w: image %s is for %s: %w", ErrBadOption, ref, platform.Format(p), err)
	}
	return nil
}

// imageFor is the image o names, pulled first as o.Pull says: always (before anything), missing
// (when the store has none; docker's "Unable to find image ... locally" goes to o.Notes) or never.
// Without a policy hoist does not pull (see docs/compatibility.md).
func (r *Runtime) imageFor(ctx context.Context, o CreateOptions) (v1.Image, v1.Hash, error) {
	want, err := checkPlatform(o.Platform)
	if err != nil {
		return nil, v1.Hash{}, err
	}
	pull := func() error {
		if o.Puller == nil {
			return fmt.Errorf("%w: --pull %s: no way to pull here", ErrBadOption, o.Pull)
		}
		return o.Puller(ctx, o.Image, want)
	}
	switch o.Pull {
	case "", PullMissing, PullNever:
	case PullAlways:
		if err := pull(); err != nil {
			return nil, v1.Hash{}, err
		}
	default:
		return nil, v1.Hash{}, fmt.Errorf("%w: invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", ErrBadOption, o.Pull)
	}
	img, h, err := r.image(ctx, o.Image, want)
	if err == nil || !errors.Is(err, ErrNoImage) || o.Pull == "" || o.Pull == PullAlways {
		return img, h, err
	}
	familiar := o.Image
	if ref, perr := store.ParseName(o.Image); perr == nil {
		familiar = store.FamiliarName(ref)
	}
	if o.Pull == PullNever {
		if errors.Is(err, errWrongPlatform) {
			return nil, v1.Hash{}, err // docker's daemon says why, too
		}
		return nil, v1.Hash{}, fmt.Errorf("%w: No such image: %s", ErrNoImage, familiar)
	}
	if o.Notes != nil {
		o.Notes(fmt.Sprintf("Unable to find image '%s' locally", familiar))
	}
	if err := pull(); err != nil {
		return nil, v1.Hash{}, err
	}
	return r.image(ctx, o.Image, want)
}
