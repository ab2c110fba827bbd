package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/hoistbuild/hoist/internal/rootpath"
)

// buildContext is the directory sent to COPY/ADD with its .dockerignore rules.
//
// The context is an untrusted tree: every path taken from it (COPY/ADD sources, RUN --mount=type=bind
// sources, the Dockerfile and .dockerignore) is resolved inside it by tree (BuildKit's semantics:
// symlinks are followed inside the context, ".." stops at its root), never by joining it to dir.
type buildContext struct {
	dir    string // absolute, symlinks resolved
	given  string // absolute as given (before resolving symlinks), to tell whether -f names a file in it
	ignore *patternmatcher.PatternMatcher
	// keepOwners: the context was unpacked from an archive (an http tarball, a tar on stdin), whose
	// owners a COPY keeps, as BuildKit's copy from such a context does; a directory's or a git
	// checkout's files are copied as 0:0.
	keepOwners bool
}

// tree resolves paths inside the context; what .dockerignore excludes is absent from it, as it is
// from BuildKit's copy of the context.
func (c *buildContext) tree() rootpath.Tree {
	return rootpath.New(c.dir, c.hidden)
}

// hidden reports whether the entry rel (whose lstat is fi) is absent from the context as BuildKit
// receives it: excluded by .dockerignore, unless it is a directory that an exception may re-include
// something in.
func (c *buildContext) hidden(rel string, fi fs.FileInfo) bool {
	if !c.ignored(rel) {
		return false
	}
	return !fi.IsDir() || c.skippable(rel)
}

// within returns p's path relative to the context when p (a host path as the user gave it) names
// something inside the context lexically.
func (c *buildContext) within(p string) (string, bool) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", false
	}
	for _, root := range []string{c.dir, c.given} {
		if rel, err := filepath.Rel(root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return filepath.ToSlash(rel), true
		}
	}
	return "", false
}

// openFile opens p, a file the user named; a path inside the context is resolved inside it.
func (c *buildContext) openFile(p string) (*os.File, error) {
	rel, ok := c.within(p)
	if !ok {
		return os.Open(p)
	}
	e, err := rootpath.New(c.dir, nil).Resolve(rel, true)
	if err != nil {
		return nil, err
	}
	return openNoFollow(e.Host)
}

// openNoFollow opens a resolved path; its last component may not have become a symlink meanwhile.
func openNoFollow(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
}

func openContext(dir string) (*buildContext, error) {
	if dir == "" {
		return nil, errors.New("no build context directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	given := abs
	abs, err = filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", dir)
	}
	return &buildContext{dir: abs, given: given}, nil
}

// loadIgnore reads <dockerfile>.dockerignore beside the Dockerfile if it exists, else
// <context>/.dockerignore, like BuildKit.
func (c *buildContext) loadIgnore(dfName, dfPath string) error {
	candidates := []string{}
	if dfPath != "" && dfPath != "-" {
		candidates = append(candidates, dfPath+".dockerignore")
	} else if dfName != "" {
		candidates = append(candidates, filepath.Join(c.dir, dfName+".dockerignore"))
	}
	candidates = append(candidates, filepath.Join(c.dir, ".dockerignore"))
	for _, p := range candidates {
		f, err := c.openFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		patterns, err := ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		pm, err := patternmatcher.New(patterns)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		// The matcher compiles each pattern on first use; do it now, so that the concurrent walks
		// (walkTree) only read it.
		_, _ = pm.MatchesOrParentMatches("x")
		c.ignore = pm
		return nil
	}
	return nil
}

// ignored reports whether rel (slash-separated, relative to the context) is excluded.
func (c *buildContext) ignored(rel string) bool {
	if c == nil || c.ignore == nil || rel == "" || rel == "." {
		return false
	}
	m, err := c.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// ignoredIn is ignored for a walk: parent is the match state of rel's directory (the zero value for
// the walk's first level), and the state of rel is returned for its own entries, so that no entry
// has its parent directories matched again.
func (c *buildContext) ignoredIn(rel string, parent patternmatcher.MatchInfo) (bool, patternmatcher.MatchInfo) {
	if c == nil || c.ignore == nil || rel == "" || rel == "." {
		return false, parent
	}
	m, info, err := c.ignore.MatchesUsingParentResults(rel, parent)
	return err == nil && m, info
}

// skipDir reports whether a whole excluded directory can be skipped (no exception can match inside).
func (c *buildContext) skipDir(rel string) bool {
	return c.ignored(rel) && c.skippable(rel)
}

// skippable reports whether no exception can re-include anything under the excluded directory rel.
func (c *buildContext) skippable(rel string) bool {
	if !c.ignore.Exclusions() {
		return true
	}
	for _, p := range c.ignore.Patterns() {
		if p.Exclusion() && (strings.HasPrefix(p.String(), rel+"/") || strings.ContainsAny(p.String(), "*?[")) {
			return false
		}
	}
	return true
}
