// Package fsdump turns container image filesystems and configs into stable,
// diffable text. It is the comparison oracle of hoist's golden corpus: an
// image built by hoist and the same image built by Docker's BuildKit must
// produce byte-identical dumps.
//
// Flatten applies uncompressed layer tars in memory with OCI semantics and
// Dump prints the resulting tree, one line per path, without timestamps.
// ConfigDump prints the runtime-relevant part of an image config.
package fsdump

import (
	"errors"
	"sort"
	"strings"
)

// ErrInvalidEntry is returned (wrapped) by Flatten when a layer entry cannot
// be applied: a hardlink whose target does not exist or is a directory, a
// symlink loop while resolving a parent directory, or an unsupported tar
// entry type.
var ErrInvalidEntry = errors.New("invalid layer entry")

// Entry types as printed by Dump.
const (
	typeFile     = 'f'
	typeDir      = 'd'
	typeSymlink  = 'l'
	typeHardlink = 'h'
	typeChar     = 'c'
	typeBlock    = 'b'
	typeFifo     = 'p'
)

// inode is one filesystem object. Several paths share one *inode when they
// are hardlinks of each other.
type inode struct {
	typ      byte   // one of the type constants except typeHardlink
	mode     int64  // permission bits plus setuid/setgid/sticky (07777)
	uid, gid int    // numeric owner
	size     int64  // content length, regular files only
	digest   string // hex sha256 of the content, regular files only
	target   string // symlink target
	major    int64  // device numbers, char and block devices only
	minor    int64
	xattrs   map[string][]byte
}

// Tree is a flattened root filesystem: a map from absolute, cleaned paths
// ("/etc/passwd") to filesystem objects. The root directory itself is not
// stored. A Tree is built by Flatten and is not safe for concurrent
// mutation; Dump only reads it and may be called concurrently.
type Tree struct {
	nodes map[string]*inode
}

func newTree() *Tree {
	return &Tree{nodes: make(map[string]*inode)}
}

// Len reports the number of paths in the tree (the root excluded).
func (t *Tree) Len() int {
	return len(t.nodes)
}

// removeSubtree deletes p and everything below it.
func (t *Tree) removeSubtree(p string) {
	delete(t.nodes, p)
	t.removeChildren(p)
}

// removeChildren deletes everything below p but not p itself.
func (t *Tree) removeChildren(p string) {
	prefix := p + "/"
	if p == "/" {
		prefix = "/"
	}
	for k := range t.nodes {
		if strings.HasPrefix(k, prefix) {
			delete(t.nodes, k)
		}
	}
}

// sortedPaths returns every path of the tree in byte-wise order.
func (t *Tree) sortedPaths() []string {
	paths := make([]string, 0, len(t.nodes))
	for p := range t.nodes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}
