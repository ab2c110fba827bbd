package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// openPtyIn opens a pty of the devpts instance mounted at <root>/dev/pts
// (a container's own, so the slave has a name inside the container, as
// docker exec -t gives). It returns the master and the slave.
func openPtyIn(root string) (*os.File, *os.File, error) {
	pts := filepath.Join(root, "dev", "pts")
	mfd, err := unix.Open(filepath.Join(pts, "ptmx"), unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the container's ptmx: %w", err)
	}
	master := os.NewFile(uintptr(mfd), "ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking pty: %w", err)
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("getting pty number: %w", err)
	}
	// O_PATH-free resolution: the name comes from the kernel, not the container.
	slave, err := os.OpenFile(filepath.Join(pts, strconv.Itoa(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening pty slave: %w", err)
	}
	return master, slave, nil
}
