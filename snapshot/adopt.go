//go:build linux

package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// Adopt makes dir the snapshot of chainID without unpacking anything: dir must already be in
// overlayfs lower-dir format and hold exactly the change whose layer has diffID on top of the chain
// parent (the zero Hash for a base layer). This is the case of an overlay upper dir whose diff was
// just committed, so a build never unpacks a layer it has itself produced.
//
// dir must be on the same filesystem as the snapshot root; it is moved, not copied. Adopt is
// idempotent: when the snapshot exists already, dir is removed and Adopt succeeds. It is atomic in the
// same way as Ensure (temp dir, then one rename).
func (s *Snapshotter) Adopt(ctx context.Context, dir string, chainID, diffID, parent v1.Hash) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	final, err := s.snapDir(chainID)
	if err != nil {
		return err
	}
	if s.Has(chainID) {
		return os.RemoveAll(dir)
	}
	t, err := newTemp(s.tmpDir(), "adopt-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := t.release(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	if err := atomicfile.Rename(dir, filepath.Join(t.dir, "fs")); err != nil {
		return fmt.Errorf("adopting %s: %w", dir, err)
	}
	return s.commitTemp(t, final, diffID, parent)
}
