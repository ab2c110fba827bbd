//go:build linux

package snapshot

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/moby/sys/userns"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
	// whiteoutMetaPrefix starts aufs metadata names (.wh..wh.plnk, ...).
	whiteoutMetaPrefix = ".wh..wh."

	xattrSELinux = "security.selinux"
)

// overlayfs keeps its metadata in trusted.overlay.* xattrs. In a user namespace (rootless hoist)
// trusted xattrs are out of reach: hoist mounts with "userxattr" there and overlayfs uses
// user.overlay.* instead (the names below follow).
var (
	overlayXattrPrefix = overlayPrefix(userns.RunningInUserNS())
	xattrOpaque        = overlayXattrPrefix + "opaque"
	xattrOrigin        = overlayXattrPrefix + "origin"
	xattrRedirect      = overlayXattrPrefix + "redirect"
	xattrMetacopy      = overlayXattrPrefix + "metacopy"
)

func overlayPrefix(inUserns bool) string {
	if inUserns {
		return "user.overlay."
	}
	return "trusted.overlay."
}

// devIno identifies an inode, for hardlink detection.
type devIno struct{ dev, ino uint64 }

func lstat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	for {
		err := unix.Lstat(path, &st)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return st, &pathError{op: "lstat", path: path, err: err}
		}
		return st, nil
	}
}

// pathError is a small fs.PathError look-alike that keeps errors.Is working
// on the errno (and therefore on fs.ErrNotExist).
type pathError struct {
	op, path string
	err      error
}

func (e *pathError) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

var _ error = (*pathError)(nil)

func fileType(st *unix.Stat_t) uint32 { return st.Mode & unix.S_IFMT }
func isDir(st *unix.Stat_t) bool      { return fileType(st) == unix.S_IFDIR }

// isWhiteout reports whether st is an overlayfs whiteout (a 0/0 char device).
func isWhiteout(st *unix.Stat_t) bool {
	return fileType(st) == unix.S_IFCHR && st.Rdev == 0
}

// readXattrs returns every xattr of path (not following symlinks), raw.
// A filesystem without xattr support yields an empty map.
func readXattrs(path string) (map[string]string, error) {
	names, err := listXattrs(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		v, err := getXattr(path, n)
		if errors.Is(err, unix.ENODATA) {
			continue // removed under us
		}
		if err != nil {
			return nil, err
		}
		out[n] = string(v)
	}
	return out, nil
}

func listXattrs(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			size, err := unix.Llistxattr(path, nil)
			if err != nil {
				return nil, &pathError{op: "llistxattr", path: path, err: err}
			}
			buf = make([]byte, size+64)
			continue
		case errors.Is(err, unix.ENOTSUP):
			return nil, nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, &pathError{op: "llistxattr", path: path, err: err}
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		sort.Strings(names)
		return names, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			size, err := unix.Lgetxattr(path, name, nil)
			if err != nil {
				return nil, &pathError{op: "lgetxattr " + name, path: path, err: err}
			}
			buf = make([]byte, size+64)
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, &pathError{op: "lgetxattr " + name, path: path, err: err}
		}
		return buf[:n], nil
	}
}

// isOpaque reports whether the directory at path carries
// trusted.overlay.opaque=y.
func isOpaque(path string) (bool, error) {
	v, err := getXattr(path, xattrOpaque)
	if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(v) == "y", nil
}

// keepXattr reports whether an xattr is carried into layer tars and copied
// by Flatten: overlayfs' own trusted.overlay.* and the host-specific
// security.selinux label are dropped, everything else is kept.
func keepXattr(name string) bool {
	return !strings.HasPrefix(name, overlayXattrPrefix) && name != xattrSELinux
}

func filterXattrs(all map[string]string) map[string]string {
	out := make(map[string]string, len(all))
	for k, v := range all {
		if keepXattr(k) {
			out[k] = v
		}
	}
	return out
}

// checkOverlayXattrs fails on overlay features whose on-disk form this
// package does not translate into a tar.
func checkOverlayXattrs(rel string, all map[string]string) error {
	for _, k := range []string{xattrRedirect, xattrMetacopy} {
		if _, ok := all[k]; ok {
			return fmt.Errorf("%s has %s: %w", rel, k, ErrUnsupportedOverlay)
		}
	}
	return nil
}

// clampTime truncates t to whole seconds (as docker and BuildKit do, so no
// PAX mtime record is needed) and clamps it to epoch when epoch is set.
func clampTime(t time.Time, epoch *time.Time) time.Time {
	t = t.Truncate(time.Second)
	if epoch != nil {
		e := epoch.Truncate(time.Second)
		if t.After(e) {
			t = e
		}
	}
	return t
}

// header builds the PAX tar header for the file described by st. rel is the
// slash-separated path relative to the layer root, link the symlink target
// (symlinks only), xattrs the already filtered xattrs. It returns nil for
// file types a tar cannot carry (sockets).
func header(rel string, st *unix.Stat_t, link string, xattrs map[string]string, epoch *time.Time) *tar.Header {
	hdr := &tar.Header{
		Name:    rel,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: clampTime(time.Unix(st.Mtim.Sec, st.Mtim.Nsec), epoch),
		Format:  tar.FormatPAX,
	}
	switch fileType(st) {
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		hdr.Name = rel + "/"
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = link
	case unix.S_IFCHR:
		hdr.Typeflag = tar.TypeChar
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
		hdr.Devmajor = int64(unix.Major(st.Rdev))
		hdr.Devminor = int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	default:
		return nil
	}
	if len(xattrs) > 0 {
		hdr.PAXRecords = make(map[string]string, len(xattrs))
		for k, v := range xattrs {
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
	}
	return hdr
}

// markerHeader is the header of an OCI whiteout or opaque marker entry.
// Markers carry no metadata of their own, so every field is fixed (mode 0,
// owner 0:0, mtime 1970-01-01) for reproducibility.
func markerHeader(name string) *tar.Header {
	return &tar.Header{
		Name:     name,
		Typeflag: tar.TypeReg,
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatPAX,
	}
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func whiteoutName(rel string) string {
	dir, base := splitRel(rel)
	return joinRel(dir, whiteoutPrefix+base)
}

func splitRel(rel string) (dir, base string) {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i], rel[i+1:]
	}
	return "", rel
}
