//go:build linux

package snapshot

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mergedEntry is one visible entry of the merged (overlay) view of a stack
// of lower dirs, computed without mounting anything.
type mergedEntry struct {
	abs   string      // path in the topmost layer holding the entry
	st    unix.Stat_t // its lstat
	chain []string    // directories only: contributing dirs, top first
}

// mergedView answers lookups in the merged view of lower dirs, following
// overlayfs lookup rules: the topmost layer holding a name decides its type;
// a whiteout hides the name in lower layers; a directory merges with the
// same-named directories below it until one is opaque or a lower layer has
// a non-directory there. The root merges all layers.
type mergedView struct {
	root  []string                           // layer roots, top first
	cache map[string]map[string]*mergedEntry // dir rel -> children
}

func newMergedView(lowers []string) *mergedView {
	top := make([]string, 0, len(lowers))
	for i := len(lowers) - 1; i >= 0; i-- {
		top = append(top, lowers[i])
	}
	return &mergedView{root: top, cache: make(map[string]map[string]*mergedEntry)}
}

// children lists the visible children of a merged directory given its
// contributing dirs (top first).
func mergedChildren(chain []string) (map[string]*mergedEntry, error) {
	out := make(map[string]*mergedEntry)
	done := make(map[string]bool) // name fully decided: hidden, non-dir, or closed dir
	for _, dir := range chain {
		names, err := readDirNames(dir)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", dir, err)
		}
		for _, name := range names {
			if done[name] {
				continue
			}
			p := filepath.Join(dir, name)
			st, err := lstat(p)
			if err != nil {
				return nil, err
			}
			e := out[name]
			if e == nil {
				if isWhiteout(&st) {
					done[name] = true
					continue
				}
				e = &mergedEntry{abs: p, st: st}
				out[name] = e
				if !isDir(&st) {
					done[name] = true
					continue
				}
				e.chain = []string{p}
			} else {
				// A visible directory with an open chain.
				if !isDir(&st) {
					done[name] = true
					continue
				}
				e.chain = append(e.chain, p)
			}
			opaque, err := isOpaque(p)
			if err != nil {
				return nil, err
			}
			if opaque {
				done[name] = true
			}
		}
	}
	return out, nil
}

// dir returns the children of the merged directory rel ("" is the root),
// or nil if rel is not a visible directory.
func (m *mergedView) dir(rel string) (map[string]*mergedEntry, error) {
	if kids, ok := m.cache[rel]; ok {
		return kids, nil
	}
	var chain []string
	if rel == "" {
		chain = m.root
	} else {
		parent, base := splitRel(rel)
		pk, err := m.dir(parent)
		if err != nil || pk == nil {
			return nil, err
		}
		e := pk[base]
		if e == nil || !isDir(&e.st) {
			m.cache[rel] = nil
			return nil, nil
		}
		chain = e.chain
	}
	kids, err := mergedChildren(chain)
	if err != nil {
		return nil, err
	}
	m.cache[rel] = kids
	return kids, nil
}

// lookup returns the visible entry at rel, or nil.
func (m *mergedView) lookup(rel string) (*mergedEntry, error) {
	rel = strings.Trim(rel, "/")
	parent, base := splitRel(rel)
	kids, err := m.dir(parent)
	if err != nil || kids == nil {
		return nil, err
	}
	return kids[base], nil
}
