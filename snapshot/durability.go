//go:build linux

package snapshot

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// Snapshots are not fsync'd: flushing a whole unpacked layer (syncfs) costs more than the rest of a
// build step on a busy disk, and everything a snapshot holds can be recreated from its layer blob,
// which the image store does make durable. Instead each snapshot records the boot it was written in
// (the kernel's boot_id). Within that boot the page cache holds its content whatever happens to the
// process; after a reboot, which may have been a crash that lost unwritten pages, a snapshot from an
// earlier boot that was never known to be flushed is discarded and unpacked again.
const bootFile = "boot_id"

// currentBootID is the kernel's random boot ID, read once per Snapshotter.
func currentBootID() []byte {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return nil
	}
	return bytes.TrimSpace(b)
}

// markBoot records the current boot in a snapshot dir being created.
func (s *Snapshotter) markBoot(dir string) error {
	if len(s.boot) == 0 {
		return syncFS(dir) // no boot ID to compare with: fall back to flushing
	}
	if err := os.WriteFile(filepath.Join(dir, bootFile), s.boot, 0o644); err != nil {
		return fmt.Errorf("writing boot id: %w", err)
	}
	return nil
}

// trusted reports whether the snapshot dir was written in this boot (or flushed). An untrusted one is
// moved out of the way so the caller unpacks it again.
func (s *Snapshotter) trusted(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, bootFile))
	if err != nil || len(s.boot) == 0 || bytes.Equal(bytes.TrimSpace(b), s.boot) {
		return true // no marker: written with syncfs (or before markers existed)
	}
	// Flush it now that it is about to be used across a reboot boundary? No: its content may already
	// be lost. Discard it.
	t, err := newTemp(s.tmpDir(), "stale-")
	if err == nil {
		_ = os.Remove(t.dir)
		if atomicfile.Rename(dir, t.dir) == nil {
			_ = t.release()
			return false
		}
		_ = t.release()
	}
	return false
}
