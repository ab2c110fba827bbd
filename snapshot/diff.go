//go:build linux

package snapshot

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
)

// WriteDiff turns an overlayfs upper directory into an OCI layer tar written
// to w. upper must not be mounted as the upper dir of a live overlay while
// WriteDiff runs (unmount first). w is not closed.
//
// The tar is deterministic for a given upper dir:
//   - entries come in depth-first order with the names of each directory
//     sorted bytewise, parents before children (filepath.WalkDir order, as
//     BuildKit's differ); the root itself is not an entry; directory names
//     end in "/";
//   - PAX format; uid, gid, mode (with setuid, setgid and sticky bits) and
//     mtime come from lstat, mtimes truncated to seconds and clamped to
//     opts.SourceDateEpoch; no atime, ctime, uname or gname;
//   - xattrs are kept as SCHILY.xattr records except trusted.overlay.* and
//     security.selinux;
//   - an overlay whiteout (0/0 char device) "d/x" becomes "d/.wh.x"; a
//     directory with trusted.overlay.opaque=y is followed directly by
//     "<dir>/.wh..wh..opq"; markers have mode 0, owner 0:0, mtime 0;
//   - regular files with several links inside upper become TypeLink entries
//     to the first name written; symlinks, fifos and devices are kept;
//     sockets are skipped.
//
// It fails with ErrUnsupportedOverlay if an entry carries the overlay
// redirect or metacopy xattr (hoist mounts with both off, so such an upper
// dir cannot be translated faithfully), and with ErrHostileEntry if a file
// name itself starts with ".wh.". On error the data written so far is an
// incomplete tar.
func WriteDiff(ctx context.Context, upper string, w io.Writer, opts DiffOptions) error {
	e := newEmitter(w, opts)
	if err := writeUpperDir(ctx, e, filepath.Clean(upper), ""); err != nil {
		return fmt.Errorf("diffing upper dir %s: %w", upper, err)
	}
	return e.close()
}

func writeUpperDir(ctx context.Context, e *emitter, abs, rel string) error {
	names, err := readDirNames(abs)
	if err != nil {
		return fmt.Errorf("reading directory %s: %w", abs, err)
	}
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		childRel := joinRel(rel, name)
		if e.excluded(childRel) {
			continue
		}
		childAbs := filepath.Join(abs, name)
		st, err := lstat(childAbs)
		if err != nil {
			return err
		}
		if isWhiteout(&st) {
			if err := e.writeWhiteout(childRel); err != nil {
				return err
			}
			continue
		}
		all, err := readXattrs(childAbs)
		if err != nil {
			return err
		}
		if err := checkOverlayXattrs(childRel, all); err != nil {
			return err
		}
		if err := e.writeFile(ctx, childRel, childAbs, &st, filterXattrs(all)); err != nil {
			return err
		}
		if !isDir(&st) {
			continue
		}
		if all[xattrOpaque] == "y" {
			if err := e.writeOpaque(childRel); err != nil {
				return err
			}
		}
		if err := writeUpperDir(ctx, e, childAbs, childRel); err != nil {
			return err
		}
	}
	return nil
}
