package fsdump

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Dump renders the tree as text, one line per path, sorted byte-wise by
// path, the root directory excluded:
//
//	<path> <type> <mode> <uid>:<gid> <size> <sha256|-> <extra|->[ xattr=<name>=<hex>,...]
//
// type is f (regular file), d, l (symlink), c, b, p (fifo) or h: a path that
// shares its inode with other paths is printed as h, except the byte-wise
// smallest path of the group, which keeps its own type; for h lines extra is
// that smallest path. mode is "%04o" of the permission bits including
// setuid, setgid and sticky. size and sha256 are the content length and hex
// SHA-256 of regular files (h lines of regular files too); size is 0 and
// sha256 is "-" for everything else. extra is the target for symlinks and
// "major,minor" for devices. Extended attributes, when present, are appended
// sorted by name with hex-encoded values. Timestamps are never printed.
//
// A path or symlink target containing a space, a control or non-ASCII byte,
// a double quote or a backslash is written as a Go-quoted string
// (strconv.Quote), so each line stays a single, space-separated record.
//
// Dump is deterministic and does not modify the tree.
func (t *Tree) Dump() []byte {
	paths := t.sortedPaths()
	// first path (in sorted order) of every inode: the hardlink group leader
	leader := make(map[*inode]string, len(paths))
	for _, p := range paths {
		if _, ok := leader[t.nodes[p]]; !ok {
			leader[t.nodes[p]] = p
		}
	}
	var b bytes.Buffer
	for _, p := range paths {
		n := t.nodes[p]
		typ := n.typ
		extra := "-"
		switch {
		case leader[n] != p:
			typ = typeHardlink
			extra = quote(leader[n])
		case n.typ == typeSymlink:
			extra = quote(n.target)
		case n.typ == typeChar || n.typ == typeBlock:
			extra = fmt.Sprintf("%d,%d", n.major, n.minor)
		}
		digest := "-"
		var size int64
		if n.typ == typeFile {
			digest, size = n.digest, n.size
		}
		fmt.Fprintf(&b, "%s %c %04o %d:%d %d %s %s", quote(p), typ, n.mode, n.uid, n.gid, size, digest, extra)
		writeXattrs(&b, n.xattrs)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// writeXattrs appends " xattr=name=hex,name=hex" (sorted by name) when x is
// not empty.
func writeXattrs(b *bytes.Buffer, x map[string][]byte) {
	if len(x) == 0 {
		return
	}
	names := make([]string, 0, len(x))
	for k := range x {
		names = append(names, k)
	}
	sort.Strings(names)
	b.WriteString(" xattr=")
	for i, k := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		if strings.ContainsAny(k, ",=") {
			b.WriteString(strconv.Quote(k))
		} else {
			b.WriteString(quote(k))
		}
		b.WriteByte('=')
		b.WriteString(hex.EncodeToString(x[k]))
	}
}

// quote returns s unchanged when it is made only of printable ASCII other
// than space, '"' and '\\', and strconv.Quote(s) otherwise.
func quote(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return strconv.Quote(s)
		}
	}
	return s
}
