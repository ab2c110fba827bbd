package fsdump

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

const (
	whiteoutPrefix = ".wh."
	// whiteoutMeta marks AUFS metadata entries (".wh..wh.plnk" and friends);
	// only the opaque marker among them has a meaning for the final tree.
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	// maxSymlinks bounds symlink resolution, like the kernel's MAXSYMLINKS.
	maxSymlinks = 255
)

// entry is one tar header of a layer, read and hashed but not yet applied.
type entry struct {
	path     string // cleaned absolute path as written in the tar
	node     *inode // nil for hardlinks
	linkname string // hardlink target (cleaned absolute path), hardlinks only
}

// Flatten applies layers, uncompressed layer tars ordered base first, to an
// empty tree and returns the result. It never touches the host filesystem.
//
// The semantics are those of the OCI image layer spec as implemented by
// containerd and dockerd: a ".wh.NAME" entry deletes NAME and its subtree
// from the lower layers; a ".wh..wh..opq" entry deletes every lower child of
// its directory; whiteouts never hide entries of their own layer; a later
// entry replaces an earlier one, except that a directory over a directory
// keeps the children and takes the new metadata; a non-directory replacing a
// directory removes the whole subtree; a hardlink entry makes its path
// another name of the target's inode (the target may come from a lower
// layer). Missing parent directories are created as 0755 root:root, and
// symlinks in parent directories are followed inside the tree, never out of
// it. Content is hashed while streaming; nothing is buffered.
//
// Flatten reads every reader to the end of its tar archive but does not
// close them; the caller owns them. Errors are wrapped; an unappliable
// entry yields an error matching ErrInvalidEntry.
func Flatten(layers []io.Reader) (*Tree, error) {
	t := newTree()
	for i, r := range layers {
		entries, err := readLayer(r)
		if err != nil {
			return nil, fmt.Errorf("reading layer %d: %w", i, err)
		}
		if err := t.applyLayer(entries); err != nil {
			return nil, fmt.Errorf("applying layer %d: %w", i, err)
		}
	}
	return t, nil
}

// readLayer reads one tar stream into entries, hashing regular file content.
func readLayer(r io.Reader) ([]entry, error) {
	tr := tar.NewReader(r)
	var entries []entry
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar header: %w", err)
		}
		e, ok, err := readEntry(tr, hdr)
		if err != nil {
			return nil, fmt.Errorf("reading %q: %w", hdr.Name, err)
		}
		if ok {
			entries = append(entries, e)
		}
	}
}

// readEntry converts one header (and its content) into an entry. ok is false
// for headers that carry no filesystem object (PAX global headers).
func readEntry(tr *tar.Reader, hdr *tar.Header) (e entry, ok bool, err error) {
	e.path = cleanPath(hdr.Name)
	n := &inode{
		mode:   hdr.Mode & 0o7777,
		uid:    hdr.Uid,
		gid:    hdr.Gid,
		xattrs: xattrsOf(hdr),
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return entry{}, false, nil
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		n.typ = typeFile
		h := sha256.New()
		size, err := io.Copy(h, tr)
		if err != nil {
			return entry{}, false, fmt.Errorf("reading content: %w", err)
		}
		n.size = size
		n.digest = hex.EncodeToString(h.Sum(nil))
	case tar.TypeDir:
		n.typ = typeDir
	case tar.TypeSymlink:
		n.typ = typeSymlink
		n.target = hdr.Linkname
	case tar.TypeLink:
		e.linkname = cleanPath(hdr.Linkname)
		return e, true, nil
	case tar.TypeChar:
		n.typ, n.major, n.minor = typeChar, hdr.Devmajor, hdr.Devminor
	case tar.TypeBlock:
		n.typ, n.major, n.minor = typeBlock, hdr.Devmajor, hdr.Devminor
	case tar.TypeFifo:
		n.typ = typeFifo
	default:
		return entry{}, false, fmt.Errorf("tar type %q: %w", hdr.Typeflag, ErrInvalidEntry)
	}
	e.node = n
	return e, true, nil
}

// xattrsOf returns the extended attributes recorded in PAX records
// ("SCHILY.xattr.NAME"), or nil.
func xattrsOf(hdr *tar.Header) map[string][]byte {
	var x map[string][]byte
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok {
			continue
		}
		if x == nil {
			x = make(map[string][]byte)
		}
		x[name] = []byte(v)
	}
	return x
}

// cleanPath turns a tar entry name ("./bin/", "bin/sh", "/etc") into a
// cleaned absolute path; ".." never climbs above "/".
func cleanPath(name string) string {
	return path.Clean("/" + name)
}

// applyLayer applies the whiteouts of one layer first (they only hide lower
// layers), then its other entries in archive order.
func (t *Tree) applyLayer(entries []entry) error {
	var rest []entry
	for _, e := range entries {
		base := path.Base(e.path)
		if !strings.HasPrefix(base, whiteoutPrefix) {
			rest = append(rest, e)
			continue
		}
		dir, err := t.resolveDir(path.Dir(e.path))
		if err != nil {
			return fmt.Errorf("whiteout %s: %w", e.path, err)
		}
		switch {
		case base == whiteoutOpaque:
			t.removeChildren(dir)
		case strings.HasPrefix(base, whiteoutMeta):
			// other AUFS metadata: no effect on the tree
		default:
			t.removeSubtree(path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
		}
	}
	for _, e := range rest {
		if err := t.apply(e); err != nil {
			return fmt.Errorf("%s: %w", e.path, err)
		}
	}
	return nil
}

// apply adds one non-whiteout entry to the tree.
func (t *Tree) apply(e entry) error {
	if e.path == "/" {
		return nil // the root itself is not part of the dump
	}
	dir, err := t.resolveDir(path.Dir(e.path))
	if err != nil {
		return err
	}
	if err := t.ensureDir(dir); err != nil {
		return err
	}
	p := path.Join(dir, path.Base(e.path))
	n := e.node
	if n == nil { // hardlink
		tdir, err := t.resolveDir(path.Dir(e.linkname))
		if err != nil {
			return fmt.Errorf("hardlink target %s: %w", e.linkname, err)
		}
		target := path.Join(tdir, path.Base(e.linkname))
		n = t.nodes[target]
		if n == nil || n.typ == typeDir {
			return fmt.Errorf("hardlink to %s (missing or a directory): %w", target, ErrInvalidEntry)
		}
		if target == p {
			return nil
		}
	}
	old := t.nodes[p]
	if old != nil && old.typ == typeDir && n.typ != typeDir {
		t.removeChildren(p)
	}
	t.nodes[p] = n
	return nil
}

// ensureDir creates the missing directories of the resolved path dir as
// 0755 root:root, like dockerd's and containerd's appliers do.
func (t *Tree) ensureDir(dir string) error {
	if dir == "/" {
		return nil
	}
	if err := t.ensureDir(path.Dir(dir)); err != nil {
		return err
	}
	switch n := t.nodes[dir]; {
	case n == nil:
		t.nodes[dir] = &inode{typ: typeDir, mode: 0o755}
	case n.typ != typeDir:
		return fmt.Errorf("parent %s is not a directory: %w", dir, ErrInvalidEntry)
	}
	return nil
}

// resolveDir follows symlinks in every component of the absolute path p,
// scoped to the tree's root (an absolute or climbing target restarts or stops
// at "/"), and returns the resolved path. Components that do not exist are
// kept as they are.
func (t *Tree) resolveDir(p string) (string, error) {
	rem := splitPath(p)
	cur := "/"
	links := 0
	for len(rem) > 0 {
		c := rem[0]
		rem = rem[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		n := t.nodes[next]
		if n == nil || n.typ != typeSymlink {
			cur = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("resolving %s: too many symlinks: %w", p, ErrInvalidEntry)
		}
		if strings.HasPrefix(n.target, "/") {
			cur = "/"
		}
		rem = append(splitPath(n.target), rem...)
	}
	return cur, nil
}

func splitPath(p string) []string {
	return strings.Split(strings.Trim(p, "/"), "/")
}
