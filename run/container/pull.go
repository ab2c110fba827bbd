package container

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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

// Puller pulls ref into the runtime's store (reporting progress as it likes).
type Puller func(ctx context.Context, ref string) error

// checkPlatform accepts an empty platform or the host's own (linux/GOARCH, any variant given
// must be empty): running an image of another platform needs emulation hoist does not have.
func checkPlatform(p string) error {
	if p == "" {
		return nil
	}
	plat, err := v1.ParsePlatform(p)
	if err != nil {
		return fmt.Errorf("%w: --platform %s: %w", ErrBadOption, p, err)
	}
	if plat.OS != "linux" || plat.Architecture != runtime.GOARCH || plat.OSVersion != "" || (plat.Variant != "" && !hostVariant(plat.Variant)) {
		return fmt.Errorf("%w: --platform %s is not supported yet: hoist runs only this host's platform (linux/%s)", ErrBadOption, p, runtime.GOARCH)
	}
	return nil
}

// hostVariant reports whether v is the host's architecture variant (arm64 is v8; amd64 has none
// that images use, v1 being the baseline).
func hostVariant(v string) bool {
	switch runtime.GOARCH {
	case "arm64":
		return v == "v8"
	case "amd64":
		return v == "v1"
	}
	return false
}

// imageFor is the image o names, pulled first as o.Pull says: always (before anything), missing
// (when the store has none; docker's "Unable to find image ... locally" goes to o.Notes) or never.
// Without a policy hoist does not pull (see docs/compatibility.md).
func (r *Runtime) imageFor(ctx context.Context, o CreateOptions) (v1.Image, v1.Hash, error) {
	if err := checkPlatform(o.Platform); err != nil {
		return nil, v1.Hash{}, err
	}
	pull := func() error {
		if o.Puller == nil {
			return fmt.Errorf("%w: --pull %s: no way to pull here", ErrBadOption, o.Pull)
		}
		return o.Puller(ctx, o.Image)
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
	img, h, err := r.image(ctx, o.Image)
	if err == nil || !errors.Is(err, ErrNoImage) || o.Pull == "" || o.Pull == PullAlways {
		return img, h, err
	}
	familiar := o.Image
	if ref, perr := store.ParseName(o.Image); perr == nil {
		familiar = store.FamiliarName(ref)
	}
	if o.Pull == PullNever {
		return nil, v1.Hash{}, fmt.Errorf("%w: No such image: %s", ErrNoImage, familiar)
	}
	if o.Notes != nil {
		o.Notes(fmt.Sprintf("Unable to find image '%s' locally", familiar))
	}
	if err := pull(); err != nil {
		return nil, v1.Hash{}, err
	}
	return r.image(ctx, o.Image)
}
