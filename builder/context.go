package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is the directory sent to COPY/ADD with its .dockerignore rules.
type buildContext struct {
	dir    string
	ignore *patternmatcher.PatternMatcher
}

func openContext(dir string) (*buildContext, error) {
	if dir == "" {
		return nil, errors.New("no build context directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
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
	return &buildContext{dir: abs}, nil
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
		f, err := os.Open(p)
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
