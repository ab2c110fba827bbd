// Package corpus is what the corpus test (builder/corpus_test.go) and the golden recorder
// (hack/record-golden) share about a case of builder/testdata/corpus: its case.json, the servers a
// remote case needs (git daemon, git smart HTTP, plain HTTP, all on loopback, serving files
// committed in the case directory), the build inputs with the servers' addresses filled in, and the
// normalisation that puts the placeholders back into the dumps. Both sides use this one code, so
// hoist and the oracle build the same inputs and their goldens compare byte for byte.
package corpus

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Placeholders stand for the servers' addresses in a case's Dockerfile, case.json and goldens:
// the servers listen on random loopback ports, which Expand fills in and Normalize takes out again.
const (
	HTTPPlaceholder = "@HTTP@" // http://127.0.0.1:<port>: files, git smart HTTP under /git/
	GitPlaceholder  = "@GIT@"  // git://127.0.0.1:<port>: git daemon
)

// Spec is a case's optional case.json.
type Spec struct {
	// BuildArgs are passed as --build-arg K=V (placeholders expanded).
	BuildArgs map[string]string `json:"build_args"`
	// Target is passed as --target.
	Target string `json:"target"`
	// Dockerfile is the Dockerfile's path: relative to the case directory for a local context,
	// inside the remote context otherwise (-f). Default "Dockerfile".
	Dockerfile string `json:"dockerfile"`
	// RecordDockerfile is read by the dockerd recorder only (see the corpus README).
	RecordDockerfile string `json:"record_dockerfile"`
	// Context, when set, is the build context instead of the case directory.
	Context *Context `json:"context"`
	// Git names the repositories the case serves, each a list of commits, oldest first.
	Git map[string][]Commit `json:"git"`
	// HTTP is a directory of the case whose files are served over HTTP at @HTTP@/<path>.
	HTTP string `json:"http"`
}

// Context is a remote build context.
type Context struct {
	// Kind is "git" (URL is a git URL), "url" (URL is an http(s) tarball or Dockerfile) or
	// "stdin" (the case's file Stdin is the `-` context: a tar archive or a lone Dockerfile).
	Kind  string `json:"kind"`
	URL   string `json:"url"`
	Stdin string `json:"stdin"`
}

// Commit is one commit of a served repository: the tree is a directory of the case; the commit
// gets fixed author, committer and dates (its index in the list decides the date), so its id is
// the same on every machine. Branches and tags are created (or moved) to point at it; the
// repository's HEAD is "main" if some commit has that branch, else the first branch named.
type Commit struct {
	Tree          string   `json:"tree"`
	Branches      []string `json:"branches"`
	Tags          []string `json:"tags"`
	AnnotatedTags []string `json:"annotated_tags"`
}

// ReadSpec reads dir/case.json; a case without one has the zero Spec.
func ReadSpec(dir string) (Spec, error) {
	var s Spec
	b, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("reading case.json: %w", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("%s: %w", filepath.Join(dir, "case.json"), err)
	}
	return s, s.validate()
}

func (s Spec) validate() error {
	if c := s.Context; c != nil {
		switch {
		case c.Kind == "git" || c.Kind == "url":
			if c.URL == "" || c.Stdin != "" {
				return fmt.Errorf("case.json: context kind %q wants a url and no stdin", c.Kind)
			}
		case c.Kind == "stdin":
			if c.Stdin == "" || c.URL != "" {
				return errors.New(`case.json: context kind "stdin" wants stdin (a file of the case) and no url`)
			}
		default:
			return fmt.Errorf("case.json: unknown context kind %q (git, url, stdin)", c.Kind)
		}
	}
	for name, commits := range s.Git {
		if name == "" || strings.ContainsAny(name, "/\\ .") {
			return fmt.Errorf("case.json: bad repository name %q", name)
		}
		for i, c := range commits {
			if c.Tree == "" {
				return fmt.Errorf("case.json: repository %s commit %d has no tree", name, i)
			}
		}
	}
	return nil
}

// NeedsServers reports whether the case is built with the servers (a remote context, served
// repositories or files).
func (s Spec) NeedsServers() bool {
	return s.Context != nil || len(s.Git) > 0 || s.HTTP != ""
}

// isArchive is the rule docker and buildx apply to `-`: a tar (ustar magic at 257) or a
// compressed stream (gzip, bzip2, xz, zstd) is a context, anything else a Dockerfile.
func isArchive(head []byte) bool {
	for _, m := range [][]byte{{0x1f, 0x8b, 0x08}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0x00}, {0x28, 0xb5, 0x2f, 0xfd}} {
		if len(head) >= len(m) && string(head[:len(m)]) == string(m) {
			return true
		}
	}
	return len(head) >= 262 && string(head[257:262]) == "ustar"
}
