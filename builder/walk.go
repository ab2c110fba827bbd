package builder

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/moby/patternmatcher"
)

// walkTree lists root (whose lstat is fi) and everything under it in filepath.WalkDir's order
// (lexical, each directory before its contents), lstat'ing every entry, with directories listed on
// all cores: a big build context is walked on every build, cached or not. filter decides, for a path
// relative to root, whether to skip a directory's whole subtree, and whether to list the entry (an
// unlisted directory is still descended into); it gets the ignore-match state of the entry's
// directory and returns the entry's. The root is always listed, as "".
func walkTree(root string, fi fs.FileInfo, filter walkFilter) ([]walkedEntry, error) {
	top := &walkNode{walkedEntry: walkedEntry{host: root, fi: fi}, emit: true}
	w := &treeWalker{filter: filter, spare: make(chan struct{}, runtime.GOMAXPROCS(0)-1)}
	w.visit(top)
	w.wg.Wait()
	var out []walkedEntry
	return out, top.flatten(&out)
}

type walkFilter func(rel string, isDir bool, parent patternmatcher.MatchInfo) (skip, emit bool, state patternmatcher.MatchInfo)

type walkNode struct {
	walkedEntry
	match patternmatcher.MatchInfo // ignore-match state, passed to the entries of a directory
	emit  bool
	kids  []*walkNode
	err   error // listing this directory, or lstat'ing this entry
}

type treeWalker struct {
	filter walkFilter
	spare  chan struct{} // a token per extra goroutine allowed
	wg     sync.WaitGroup
}

// visit lists directory n; subdirectories are visited by another goroutine when one is spare.
func (w *treeWalker) visit(n *walkNode) {
	ents, err := os.ReadDir(n.host) // sorted by name, like WalkDir
	if err != nil {
		n.err = err
		return
	}
	n.kids = make([]*walkNode, 0, len(ents))
	for _, d := range ents {
		rel := path.Join(n.rel, d.Name())
		skip, emit, match := w.filter(rel, d.IsDir(), n.match)
		if skip {
			continue
		}
		k := &walkNode{walkedEntry: walkedEntry{rel: rel, host: filepath.Join(n.host, d.Name())}, match: match, emit: emit}
		n.kids = append(n.kids, k)
		if k.fi, k.err = d.Info(); k.err != nil || !d.IsDir() {
			continue
		}
		select {
		case w.spare <- struct{}{}:
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() { <-w.spare }()
				w.visit(k)
			}()
		default:
			w.visit(k)
		}
	}
}

// flatten appends n and its subtree in walk order; the first error in that order stops it.
func (n *walkNode) flatten(out *[]walkedEntry) error {
	if n.err != nil {
		return n.err
	}
	if n.emit {
		*out = append(*out, n.walkedEntry)
	}
	for _, k := range n.kids {
		if err := k.flatten(out); err != nil {
			return err
		}
	}
	return nil
}
