package corpus

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// TestServe: the repositories get the same commit ids on every machine (corpus Dockerfiles pin them),
// both git transports serve them, the HTTP directory is served and nothing outside it, and
// Normalize undoes Expand.
func TestServe(t *testing.T) {
	testutil.RequireGit(t)
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{"v1/a.txt": "a\n", "v2/a.txt": "b\n", "v2/l": "->a.txt",
		"files/f.txt": "f\n", "secret.txt": "no\n"})
	spec := Spec{HTTP: "files", Git: map[string][]Commit{"r": {
		{Tree: "v1", Branches: []string{"dev"}, AnnotatedTags: []string{"t"}},
		{Tree: "v2", Branches: []string{"main"}},
	}}}
	if err := spec.validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(dir, t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	want := map[string]string{ // recorded once; a change here breaks every pinned commit of the corpus
		"HEAD":            "41e437f4fa33e762fac2b66b42507b22d53f4427",
		"refs/heads/dev":  "8fc688fda9f521c1d7f67b02785fe396805ce7e7",
		"refs/heads/main": "41e437f4fa33e762fac2b66b42507b22d53f4427",
		"refs/tags/t^{}":  "8fc688fda9f521c1d7f67b02785fe396805ce7e7",
	}
	for _, url := range []string{srv.Expand("@GIT@/r.git"), srv.Expand("@HTTP@/git/r.git")} {
		out, err := exec.Command("git", "ls-remote", url).CombinedOutput()
		if err != nil {
			t.Fatalf("git ls-remote %s: %v\n%s", url, err, out)
		}
		got := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			id, ref, _ := strings.Cut(line, "\t")
			got[ref] = id
		}
		for ref, id := range want {
			if got[ref] != id {
				t.Errorf("%s: %s is %q, want %s", url, ref, got[ref], id)
			}
		}
	}
	for path, wantBody := range map[string]string{"/f.txt": "f\n", "/../secret.txt": "", "/%2e%2e/secret.txt": "", "/": ""} {
		resp, err := http.Get(srv.HTTP + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if wantBody == "" && resp.StatusCode != http.StatusNotFound || wantBody != "" && string(body) != wantBody {
			t.Errorf("GET %s: %d %q", path, resp.StatusCode, body)
		}
	}
	s := "ADD @HTTP@/f.txt @GIT@/r.git /x/"
	if got := string(srv.Normalize([]byte(srv.Expand(s)))); got != s || srv.Expand(s) == s {
		t.Errorf("Expand/Normalize: %q", got)
	}
}

// TestReadSpecRejects: a case.json with an unknown field or an inconsistent context is an error
// naming the file, never half used.
func TestReadSpecRejects(t *testing.T) {
	for _, js := range []string{
		`{"contxt": {}}`,
		`{"context": {"kind": "git"}}`,
		`{"context": {"kind": "stdin", "url": "x"}}`,
		`{"context": {"kind": "ftp", "url": "x"}}`,
		`{"git": {"a/b": [{"tree": "t"}]}}`,
		`{"git": {"r": [{"branches": ["main"]}]}}`,
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "case.json"), []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadSpec(dir); err == nil || !strings.Contains(err.Error(), "case.json") {
			t.Errorf("%s: %v", js, err)
		}
	}
}
