// Package rootpath resolves paths inside an untrusted directory tree (a build context, an image
// rootfs) the way BuildKit does (cache/contenthash's getFollowLinks, fsutil's copy): the path is
// cleaned lexically with "/" as its root (so "../x" is "x"), then every component is looked up with
// symlinks evaluated inside the tree: an absolute link target starts again at the tree's root and
// ".." never climbs above it. The result names an existing entry whose path holds no symlink (except
// the last component when it is not followed), so opening the returned host path cannot leave the
// tree, unless the tree is changed concurrently: resolution is by lstat, not by openat2, because
// every caller goes on to use host paths.
package rootpath

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// MaxLinks is how many symlinks one resolution may follow (BuildKit's and securejoin's limit).
const MaxLinks = 255

// ErrTooManyLinks is returned when a resolution follows more than MaxLinks symlinks.
var ErrTooManyLinks = errors.New("too many levels of symbolic links")

// Tree is a directory in which paths are resolved. The zero value is not usable; see New.
type Tree struct {
	dir  string
	hide func(rel string, fi fs.FileInfo) bool
}

// New returns the tree rooted at dir, which must be an absolute, clean path without symlinks (the
// caller resolves it once, with filepath.EvalSymlinks). hide, if not nil, is asked about every
// existing entry a resolution looks up (rel is its path in the tree, fi its lstat): an entry it hides
// is treated as absent, as a file excluded by .dockerignore is absent from BuildKit's copy of the
// context.
func New(dir string, hide func(rel string, fi fs.FileInfo) bool) Tree {
	return Tree{dir: filepath.Clean(dir), hide: hide}
}

// Dir is the tree's root directory on the host.
func (t Tree) Dir() string { return t.dir }

// Entry is a resolved path.
type Entry struct {
	Rel  string      // slash-separated path in the tree, "" for its root; no symlink in any component but the last
	Host string      // the same path on the host: Dir()/Rel
	Info fs.FileInfo // lstat of Host
}

// Host is the host path of rel, a path that Resolve or Glob returned.
func (t Tree) Host(rel string) string {
	if rel == "" {
		return t.dir
	}
	return t.dir + "/" + filepath.FromSlash(rel)
}

// Resolve resolves p (absolute or relative to the root: both mean the same) inside the tree. With
// followLast a symlink in the last component is followed too (COPY's sources, BuildKit's
// FollowLinks); without, the entry is the link itself. A missing entry is an error wrapping
// fs.ErrNotExist.
func (t Tree) Resolve(p string, followLast bool) (Entry, error) {
	var (
		comps   []string // the resolved path so far: no symlinks, each component looked up
		deadAt  = -1     // comps[deadAt:] are absent: lexical only, until ".." climbs out
		links   int
		lastFI  fs.FileInfo // lstat of comps when the last step was a lookup
		rest    = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/")
		pending []string // components still to apply, front first
	)
	pending = splitPath(rest)
	for len(pending) > 0 {
		part := pending[0]
		pending = pending[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if len(comps) > 0 {
				comps = comps[:len(comps)-1]
			}
			if deadAt >= len(comps) {
				deadAt = -1
			}
			lastFI = nil
			continue
		}
		comps = append(comps, part)
		lastFI = nil
		if deadAt >= 0 {
			continue
		}
		rel := strings.Join(comps, "/")
		fi, err := os.Lstat(t.Host(rel))
		if err != nil {
			if !isNotExist(err) {
				return Entry{}, err
			}
			deadAt = len(comps) - 1
			continue
		}
		if t.hide != nil && t.hide(rel, fi) {
			deadAt = len(comps) - 1
			continue
		}
		if fi.Mode()&fs.ModeSymlink == 0 || (len(pending) == 0 && !followLast) {
			lastFI = fi
			continue
		}
		if links++; links > MaxLinks {
			return Entry{}, fmt.Errorf("%q: %w", "/"+strings.TrimPrefix(filepath.ToSlash(p), "/"), ErrTooManyLinks)
		}
		target, err := os.Readlink(t.Host(rel))
		if err != nil {
			return Entry{}, err
		}
		comps = comps[:len(comps)-1]
		if path.IsAbs(filepath.ToSlash(target)) {
			comps = comps[:0]
		}
		pending = append(splitPath(filepath.ToSlash(target)), pending...)
	}
	if deadAt >= 0 {
		return Entry{}, notFound(p)
	}
	rel := strings.Join(comps, "/")
	e := Entry{Rel: rel, Host: t.Host(rel), Info: lastFI}
	if e.Info == nil {
		// The root, or a directory ".." went back to: looked up (or the root) before, so no symlink.
		fi, err := os.Lstat(e.Host)
		if err != nil {
			if isNotExist(err) {
				return Entry{}, notFound(p)
			}
			return Entry{}, err
		}
		e.Info = fi
	}
	return e, nil
}

// Glob expands a pattern with wildcards (path.Match syntax) as BuildKit's copy does: the part
// before the first component with a wildcard is resolved with Resolve (links followed), the rest is
// matched against the entries under it without following links (a symlinked directory is not
// entered), and a directory that matches is not looked into. The entries are the matches
// themselves (a matching symlink is not followed), in lexical order. A pattern without wildcards
// is resolved with Resolve(pattern, false). A pattern that matches nothing is not an error.
func (t Tree) Glob(pattern string) ([]Entry, error) {
	clean := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(pattern)), "/")
	parts := splitPath(clean)
	i := 0
	for i < len(parts) && !HasWildcard(parts[i]) {
		i++
	}
	if i == len(parts) {
		e, err := t.Resolve(clean, false)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return []Entry{e}, nil
	}
	for _, p := range parts[i:] {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("bad pattern %q: %w", pattern, err)
		}
	}
	base, err := t.Resolve(strings.Join(parts[:i], "/"), true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Entry
	return out, t.match(base, parts[i:], &out)
}

// match appends to out the entries under dir (a real directory) that match parts.
func (t Tree) match(dir Entry, parts []string, out *[]Entry) error {
	if !dir.Info.IsDir() {
		return nil
	}
	ents, err := os.ReadDir(dir.Host)
	if err != nil {
		return err
	}
	for _, d := range ents {
		if ok, _ := path.Match(parts[0], d.Name()); !ok {
			continue
		}
		rel := path.Join(dir.Rel, d.Name())
		fi, err := d.Info()
		if isNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if t.hide != nil && t.hide(rel, fi) {
			continue
		}
		e := Entry{Rel: rel, Host: t.Host(rel), Info: fi}
		if len(parts) == 1 {
			*out = append(*out, e)
			continue
		}
		if fi.IsDir() {
			if err := t.match(e, parts[1:], out); err != nil {
				return err
			}
		}
	}
	return nil
}

// HasWildcard reports whether s holds an unescaped *, ? or [ (BuildKit's containsWildcards).
func HasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?', '[':
			return true
		}
	}
	return false
}

func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func notFound(p string) error {
	return fmt.Errorf("%q not found: %w", "/"+strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(p)), "/"), fs.ErrNotExist)
}

// isNotExist: a missing entry, or a path through a non-directory.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}
