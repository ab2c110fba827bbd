//go:build linux

package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// WriteDiffCompare is the copy-based counterpart of WriteDiff, for when
// overlayfs is unavailable: newRoot is a plain directory (typically made by
// Flatten from lowers and then modified by a build step) and the layer tar
// written to w holds what differs from the merged view of lowers (base
// first). w is not closed.
//
// A path is changed when its type, mode, uid, gid, mtime (nanoseconds),
// xattrs (trusted.overlay.* and security.selinux ignored), symlink target,
// device number, or, for regular files, size or content differ; content is
// compared only when everything else is equal. Changed and added paths are
// written, preceded by their not yet written parent directories (as
// overlayfs' copy-up puts parents into the upper dir); deleted paths become
// ".wh.<name>" entries. A directory gets an opaque marker and all of its
// content when it replaces a non-directory, or when none of its old
// children survive and it has new ones (the result of `rm -rf d; mkdir d`).
// Of the names of a regular file with several links, only the added or
// changed ones are written (the first with content, the rest as TypeLink to
// it), as BuildKit's overlay differ and WriteDiff with DiffOptions.Lowers
// do: a new link to an unchanged lower file becomes a regular file. Entry
// format, order and options are those of WriteDiff, so both produce
// equivalent layers for the same change.
func WriteDiffCompare(ctx context.Context, lowers []string, newRoot string, w io.Writer, opts DiffOptions) error {
	c := &comparer{e: newEmitter(w, opts), old: newMergedView(lowers)}
	root := filepath.Clean(newRoot)
	rootKids, err := mergedChildren(c.old.root)
	if err == nil {
		err = c.compareChildren(ctx, "", root, rootKids)
	}
	if err != nil {
		return fmt.Errorf("diffing %s against lowers: %w", newRoot, err)
	}
	return c.e.close()
}

type comparer struct {
	e       *emitter
	old     *mergedView
	pending []pendingDir
}

// pendingDir is a directory header that is written only once something
// below it is.
type pendingDir struct {
	rel, abs string
	st       unix.Stat_t
	xattrs   map[string]string
	opaque   bool
	written  bool
}

func (c *comparer) flush(ctx context.Context) error {
	for i := range c.pending {
		p := &c.pending[i]
		if p.written {
			continue
		}
		p.written = true
		if err := c.e.writeFile(ctx, p.rel, p.abs, &p.st, p.xattrs); err != nil {
			return err
		}
		if p.opaque {
			if err := c.e.writeOpaque(p.rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareChildren diffs directory newAbs (rel) against the old directory's
// visible children oldKids (empty when the directory is new or opaque:
// everything new is added and nothing is whited out).
func (c *comparer) compareChildren(ctx context.Context, rel, newAbs string, oldKids map[string]*mergedEntry) error {
	newNames, err := readDirNames(newAbs)
	if err != nil {
		return fmt.Errorf("reading %s: %w", newAbs, err)
	}
	inNew := make(map[string]bool, len(newNames))
	for _, n := range newNames {
		inNew[n] = true
	}
	names := slices.Sorted(maps.Keys(oldKids))
	names = slices.Compact(slices.Sorted(slices.Values(append(names, newNames...))))
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		childRel := joinRel(rel, name)
		if c.e.excluded(childRel) {
			continue
		}
		o := oldKids[name]
		childAbs := filepath.Join(newAbs, name)
		if !inNew[name] {
			if err := c.flush(ctx); err != nil {
				return err
			}
			if err := c.e.writeWhiteout(childRel); err != nil {
				return err
			}
			continue
		}
		st, err := lstat(childAbs)
		if err != nil {
			return err
		}
		if err := c.compareEntry(ctx, childRel, childAbs, &st, o); err != nil {
			return err
		}
	}
	return nil
}

func (c *comparer) compareEntry(ctx context.Context, rel, abs string, st *unix.Stat_t, o *mergedEntry) error {
	all, err := readXattrs(abs)
	if err != nil {
		return err
	}
	xattrs := filterXattrs(all)
	if !isDir(st) {
		changed := o == nil
		if !changed {
			if changed, err = differs(o, abs, st, xattrs); err != nil {
				return err
			}
		}
		if !changed {
			return nil
		}
		if err := c.flush(ctx); err != nil {
			return err
		}
		return c.e.writeFile(ctx, rel, abs, st, xattrs)
	}
	// A directory: decide whether it hides everything below it.
	opaque := o != nil && !isDir(&o.st)
	changed := o == nil || opaque
	var oldKids map[string]*mergedEntry
	if o != nil && isDir(&o.st) {
		if changed, err = differs(o, abs, st, xattrs); err != nil {
			return err
		}
		if oldKids, err = mergedChildren(o.chain); err != nil {
			return err
		}
		if opaque, err = recreatedDir(abs, oldKids); err != nil {
			return err
		}
		if opaque {
			oldKids = nil
		}
	}
	c.pending = append(c.pending, pendingDir{rel: rel, abs: abs, st: *st, xattrs: xattrs, opaque: opaque})
	defer func() { c.pending = c.pending[:len(c.pending)-1] }()
	if changed || opaque {
		if err := c.flush(ctx); err != nil {
			return err
		}
	}
	return c.compareChildren(ctx, rel, abs, oldKids)
}

// recreatedDir reports whether none of the old children of a directory
// survive in newAbs while it has new ones.
func recreatedDir(newAbs string, oldKids map[string]*mergedEntry) (bool, error) {
	if len(oldKids) == 0 {
		return false, nil
	}
	newNames, err := readDirNames(newAbs)
	if err != nil || len(newNames) == 0 {
		return false, err
	}
	for _, n := range newNames {
		if _, ok := oldKids[n]; ok {
			return false, nil
		}
	}
	return true, nil
}

// differs reports whether the new file (abs, st, kept xattrs) differs from
// the old entry o.
func differs(o *mergedEntry, abs string, st *unix.Stat_t, xattrs map[string]string) (bool, error) {
	a, b := &o.st, st
	if fileType(a) != fileType(b) || a.Mode&0o7777 != b.Mode&0o7777 ||
		a.Uid != b.Uid || a.Gid != b.Gid || a.Mtim != b.Mtim {
		return true, nil
	}
	oldX, err := readXattrs(o.abs)
	if err != nil {
		return false, err
	}
	if !maps.Equal(filterXattrs(oldX), xattrs) {
		return true, nil
	}
	switch fileType(b) {
	case unix.S_IFLNK:
		ol, err1 := os.Readlink(o.abs)
		nl, err2 := os.Readlink(abs)
		if err1 != nil || err2 != nil {
			return false, fmt.Errorf("reading symlinks %s, %s: %w", o.abs, abs, firstErr(err1, err2))
		}
		return ol != nl, nil
	case unix.S_IFCHR, unix.S_IFBLK:
		return a.Rdev != b.Rdev, nil
	case unix.S_IFREG:
		if a.Size != b.Size {
			return true, nil
		}
		same, err := sameContent(o.abs, abs)
		return !same, err
	}
	return false, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func sameContent(p1, p2 string) (bool, error) {
	f1, err := os.OpenFile(p1, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer f1.Close()
	f2, err := os.OpenFile(p2, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return false, err
	}
	defer f2.Close()
	b1 := make([]byte, 64<<10)
	b2 := make([]byte, 64<<10)
	for {
		n1, err1 := io.ReadFull(f1, b1)
		n2, err2 := io.ReadFull(f2, b2)
		if n1 != n2 || !bytes.Equal(b1[:n1], b2[:n2]) {
			return false, nil
		}
		eof1 := err1 == io.EOF || err1 == io.ErrUnexpectedEOF
		eof2 := err2 == io.EOF || err2 == io.ErrUnexpectedEOF
		if eof1 || eof2 {
			return eof1 == eof2, nil
		}
		if err := firstErr(err1, err2); err != nil {
			return false, err
		}
	}
}
