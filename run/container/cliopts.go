package container

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hoistbuild/hoist/internal/atomicfile"
	"github.com/hoistbuild/hoist/snapshot"
)

// checkCIDFile refuses an existing --cidfile, as docker does (another container may own it).
func checkCIDFile(path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: container ID file found, make sure the other container isn't running or delete %s", ErrBadOption, path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: --cidfile: %w", ErrBadOption, err)
	}
	return nil
}

// writeCIDFile writes the container's full ID, without a newline, as docker does.
func writeCIDFile(path, id string) error {
	if path == "" {
		return nil
	}
	if err := atomicfile.WriteFile(path, []byte(id), 0o644); err != nil {
		return fmt.Errorf("writing the container ID file: %w", err)
	}
	return nil
}

// Attach is which of the container's standard streams run attaches to hoist's (docker's -a).
type Attach struct {
	Stdin, Stdout, Stderr bool
}

// ParseAttach parses run's -a values (stdin, stdout, stderr, any case); none given attaches all
// three. Stdin is attached only with -i, as with docker (-a stdin alone gives the container no
// stdin). -a with -d is docker's "Conflicting options".
func ParseAttach(streams []string, interactive, detach bool) (Attach, error) {
	if len(streams) > 0 && detach {
		return Attach{}, fmt.Errorf("%w: Conflicting options: -a and -d", ErrBadOption)
	}
	if len(streams) == 0 {
		return Attach{Stdin: interactive, Stdout: true, Stderr: true}, nil
	}
	a := Attach{Stdin: interactive}
	for _, s := range streams {
		switch strings.ToLower(s) {
		case "stdin":
		case "stdout":
			a.Stdout = true
		case "stderr":
			a.Stderr = true
		default:
			return Attach{}, fmt.Errorf("%w: invalid argument %q for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", ErrBadOption, s)
		}
	}
	return a, nil
}

// ErrStorageDriver is wrapped by CheckStorageDriver's error.
var ErrStorageDriver = errors.New("containers run on the kernel's overlay only")

// CheckStorageDriver refuses a storage driver forced for containers (--storage-driver,
// HOIST_STORAGE_DRIVER) that they cannot use: a container's rootfs is always the kernel's overlay,
// mounted in the container's own mount namespace; fuse-overlayfs and the copy serve build steps
// only (docs/rootless.md). "" (probe) and overlay pass.
func CheckStorageDriver(d snapshot.Driver) error {
	if d == "" || d == snapshot.DriverOverlay {
		return nil
	}
	return fmt.Errorf("%w: storage driver %s is for build steps (hoist build), not for run or create; "+
		"unset it for containers", ErrStorageDriver, d)
}
