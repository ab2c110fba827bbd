package container

import (
	"fmt"

	"github.com/hoistbuild/hoist/run"
)

// ParseDevice parses docker's --device HOST[:CONTAINER[:PERMS]].
func ParseDevice(spec string) (run.Device, error) {
	return run.Device{}, fmt.Errorf("%w: --device %s: device access control is not wired yet", ErrBadOption, spec)
}
