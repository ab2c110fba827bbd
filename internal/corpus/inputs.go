package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// Inputs is what a build of a case is given, with the servers' addresses filled in. Exactly one of
// ContextDir, ContextURL and Stdin is set.
type Inputs struct {
	// ContextDir is a local context directory.
	ContextDir string
	// ContextURL is a git or http(s) context.
	ContextURL string
	// Stdin is the `-` context: a tar archive (StdinIsArchive) or a Dockerfile.
	Stdin          []byte
	StdinIsArchive bool
	// Dockerfile is an absolute local path, or (for a remote context) a path inside the context;
	// "" is the default.
	Dockerfile string
	BuildArgs  map[string]string
	Target     string
}

// Inputs returns the build inputs of the case in dir. s may be nil for a case that needs no
// servers (then nothing is expanded). A local Dockerfile that mentions a placeholder is written,
// expanded, into tmp and given with an absolute path (its context stays the case directory).
func (s *Servers) Inputs(dir, tmp string, spec Spec) (Inputs, error) {
	expand := func(v string) string { return v }
	if s != nil {
		expand = s.Expand
	}
	in := Inputs{Target: spec.Target}
	if len(spec.BuildArgs) > 0 {
		in.BuildArgs = map[string]string{}
		for k, v := range spec.BuildArgs {
			in.BuildArgs[k] = expand(v)
		}
	}
	if c := spec.Context; c != nil {
		if s == nil {
			return in, fmt.Errorf("a remote context needs the servers")
		}
		in.Dockerfile = spec.Dockerfile
		switch c.Kind {
		case "stdin":
			b, err := os.ReadFile(filepath.Join(dir, c.Stdin))
			if err != nil {
				return in, err
			}
			in.Stdin, in.StdinIsArchive = b, isArchive(b)
		default:
			in.ContextURL = expand(c.URL)
		}
		return in, nil
	}
	in.ContextDir = dir
	df := filepath.Join(dir, "Dockerfile")
	if spec.Dockerfile != "" {
		df = filepath.Join(dir, spec.Dockerfile)
		in.Dockerfile = df
	}
	if s == nil {
		return in, nil
	}
	b, err := os.ReadFile(df)
	if err != nil {
		return in, err
	}
	if !strings.Contains(string(b), HTTPPlaceholder) && !strings.Contains(string(b), GitPlaceholder) {
		return in, nil
	}
	if _, err := os.Lstat(df + ".dockerignore"); err == nil {
		return in, fmt.Errorf("%s.dockerignore: a Dockerfile with placeholders is copied out of the case; its own .dockerignore would not follow", df)
	}
	out := filepath.Join(tmp, "dockerfile", filepath.Base(df))
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return in, err
	}
	if err := atomicfile.WriteFile(out, []byte(expand(string(b))), 0o644); err != nil {
		return in, err
	}
	in.Dockerfile = out
	return in, nil
}
