//go:build linux

package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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
		// Only a copy-up (overlayfs marks it with its origin) can be unchanged from a lower file: new
		// files and the COPY reuse's links into an earlier snapshot are never looked up.
		if _, copiedUp := all[xattrOrigin]; copiedUp && fileType(&st) == unix.S_IFREG && st.Nlink > 1 && len(e.opts.Lowers) > 0 {
			same, err := unchangedInLowers(e.opts.Lowers, childRel, childAbs, &st, all)
			if err != nil {
				return err
			}
			if same {
				continue
			}
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

// lowerPath finds rel in the lower view of lowers (base first): the host path in the topmost lower
// that has it, "" when no lower has it or a higher one hides it (a whiteout, an opaque directory or a
// non-directory on its way).
func lowerPath(lowers []string, rel string) (string, error) {
	parts := strings.Split(rel, "/")
	for i := len(lowers) - 1; i >= 0; i-- {
		p := filepath.Join(lowers[i], filepath.FromSlash(rel))
		st, err := lstat(p)
		if err == nil {
			if isWhiteout(&st) {
				return "", nil
			}
			return p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			return "", err
		}
		// Does an ancestor in this lower hide the lower ones?
		for j := len(parts) - 1; j >= 1; j-- {
			a := filepath.Join(lowers[i], filepath.FromSlash(strings.Join(parts[:j], "/")))
			ast, err := lstat(a)
			if err != nil {
				continue
			}
			if !isDir(&ast) {
				return "", nil // a whiteout or a file replaces the directory
			}
			if v, _ := getXattr(a, xattrOpaque); string(v) == "y" {
				return "", nil
			}
			break
		}
	}
	return "", nil
}

// unchangedInLowers reports whether the upper entry rel (abs, lstat st, xattrs) is the same as the
// lower view's, with the checks of BuildKit's overlay differ (sameDirent): type and mode, owner,
// rdev, security.capability, size and mtime, and the content when both mtimes lack nanoseconds.
func unchangedInLowers(lowers []string, rel, abs string, st *unix.Stat_t, xattrs map[string]string) (bool, error) {
	lp, err := lowerPath(lowers, rel)
	if err != nil || lp == "" {
		return false, err
	}
	lst, err := lstat(lp)
	if err != nil {
		return false, err
	}
	if lst.Mode != st.Mode || lst.Uid != st.Uid || lst.Gid != st.Gid || lst.Rdev != st.Rdev ||
		lst.Size != st.Size || lst.Mtim != st.Mtim {
		return false, nil
	}
	lcap, _ := getXattr(lp, "security.capability")
	if string(lcap) != xattrs["security.capability"] {
		return false, nil
	}
	if st.Mtim.Nsec != 0 {
		return true, nil
	}
	a, err := os.ReadFile(abs)
	if err != nil {
		return false, err
	}
	b, err := os.ReadFile(lp)
	if err != nil {
		return false, err
	}
	return bytes.Equal(a, b), nil
}
