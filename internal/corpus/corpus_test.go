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
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
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
		`{"ssh": true}`,
		`{"https": true, "http": "files"}`,
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

// TestServeSSHAndHTTPS: with "ssh" and "https" the same repositories (same commit ids) are served
// over ssh (both URL forms, the agent's key, the case's known_hosts) and over https (the case's CA);
// the ssh server lets in only the agent's key as user git, serves only git-upload-pack of a served
// repository, and an https client without the CA is refused.
func TestServeSSHAndHTTPS(t *testing.T) {
	testutil.RequireSSH(t)
	prereq.Require(t, prereq.Root) // port 22 for the scp-like address
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{"v1/a.txt": "a\n", "v2/a.txt": "b\n", "v2/l": "->a.txt"})
	spec := Spec{SSH: true, HTTPS: true, Git: map[string][]Commit{"r": {
		{Tree: "v1", Branches: []string{"dev"}, AnnotatedTags: []string{"t"}},
		{Tree: "v2", Branches: []string{"main"}},
	}}}
	srv, err := Serve(dir, t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.SSH, "ssh://git@127.0.0.1:") || !strings.HasPrefix(srv.SCP, "git@127.") ||
		!strings.HasPrefix(srv.HTTPS, "https://127.0.0.1:") {
		t.Fatalf("addresses: %q %q %q", srv.SSH, srv.SCP, srv.HTTPS)
	}
	env := append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "HOME="+t.TempDir())
	lsRemote := func(url string, extra ...string) (string, error) {
		cmd := exec.Command("git", "ls-remote", url)
		cmd.Env = append(append(append([]string{}, env...), srv.GitClientEnv()...), extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, url := range []string{srv.Expand("@SSH@/r.git"), srv.Expand("@SCP@:r.git"), srv.Expand("@SSH@/~/r.git"),
		srv.Expand("@HTTPS@/git/r.git")} {
		out, err := lsRemote(url)
		if err != nil || !strings.Contains(out, "41e437f4fa33e762fac2b66b42507b22d53f4427\trefs/heads/main") {
			t.Errorf("git ls-remote %s: %v\n%s", url, err, out)
		}
	}
	otherKnownHosts := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(otherKnownHosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url, want string
		env             []string
	}{
		{"no agent", srv.Expand("@SSH@/r.git"), "Permission denied (publickey)", []string{"SSH_AUTH_SOCK="}},
		{"another user", strings.Replace(srv.Expand("@SSH@/r.git"), "git@", "root@", 1), "Permission denied (publickey)", nil},
		{"unknown host key", srv.Expand("@SSH@/r.git"), "Host key verification failed",
			[]string{"GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile=" + otherKnownHosts}},
		{"not a served repository", srv.Expand("@SSH@/../r.git"), "does not appear to be a git repository", nil},
		{"missing repository", srv.Expand("@SCP@:nothere.git"), "does not appear to be a git repository", nil},
		{"https without the CA", srv.Expand("@HTTPS@/git/r.git"), "certificate", []string{"GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt"}},
	} {
		if out, err := lsRemote(tc.url, tc.env...); err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%s: git ls-remote %s: %v, want an error with %q:\n%s", tc.name, tc.url, err, tc.want, out)
		}
	}
	cmd := exec.Command("git", "push", srv.Expand("@SSH@/r.git"), "HEAD:refs/heads/x")
	cmd.Dir, cmd.Env = t.TempDir(), append(append([]string{}, env...), srv.GitClientEnv()...)
	testutil.Git(t, cmd.Dir, "init", "-q")
	testutil.Git(t, cmd.Dir, "commit", "-q", "--allow-empty", "-m", "x")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "only git-upload-pack is served") {
		t.Errorf("git push over ssh: %v\n%s", err, out)
	}
	s := "ADD @SSH@/r.git @SCP@:r.git @HTTPS@/git/r.git @HTTP@/git/r.git /x/"
	if got := string(srv.Normalize([]byte(srv.Expand(s)))); got != s || containsPlaceholder(srv.Expand(s)) {
		t.Errorf("Expand/Normalize: %q", got)
	}
}
