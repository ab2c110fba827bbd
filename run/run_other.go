//go:build !linux

package run

import (
	"context"
	"errors"
)

// MaybeInit does nothing on this system: sandboxes are Linux-only.
func MaybeInit() {}

// Run is not supported on this system; it returns errors.ErrUnsupported.
func Run(ctx context.Context, spec Spec, stdio IO) (int, error) {
	return -1, errors.ErrUnsupported
}

// InPrivateMounts is always false on this system.
func InPrivateMounts() bool { return false }

// ReexecPrivateMounts is not supported on this system.
func ReexecPrivateMounts(ctx context.Context) (int, error) { return 125, errors.ErrUnsupported }

// CheckRlimits is not supported on this system.
func CheckRlimits(rl []Rlimit) error {
	if len(rl) == 0 {
		return nil
	}
	return errors.ErrUnsupported
}
