package builder_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/corpus"
	"github.com/hoistbuild/hoist/internal/testutil"
)

// sshFixture is the remote fixture's repository served over ssh (ssh:// and scp-like) and https as
// well, by internal/corpus (an in-process ssh server with an agent holding its one authorized key,
// git smart HTTP behind TLS with a CA made for the test).
type sshFixture struct {
	*remoteFixture
	srv *corpus.Servers
	env []string // the environment hoist's git needs for them (agent, known_hosts, CA)
}

func newSSHFixture(t *testing.T) *sshFixture {
	t.Helper()
	testutil.RequireSSH(t)
	f := newRemoteFixture(t)
	dir := t.TempDir()
	testutil.WriteFiles(t, filepath.Join(dir, "tree"), remoteFiles)
	if err := os.Chmod(filepath.Join(dir, "tree/bin/tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := corpus.Spec{SSH: true, HTTPS: true, Git: map[string][]corpus.Commit{"repo": {{Tree: "tree", Branches: []string{"main"}}}}}
	srv, err := corpus.Serve(dir, t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &sshFixture{remoteFixture: f, srv: srv, env: append(os.Environ(), srv.GitClientEnv()...)}
}

// without returns env without the variables named.
func without(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && k != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// TestSSHAndHTTPSContextsSameImage: a git context over ssh (both URL forms) and over https gives
// the image the same repository gives over git:// (the transports differ, the tree does not).
func TestSSHAndHTTPSContextsSameImage(t *testing.T) {
	f := newSSHFixture(t)
	want := f.mustBuild(t, builder.Options{ContextURL: f.srv.Expand("@GIT@/repo.git#main")}).Manifest
	for _, url := range []string{"@SSH@/repo.git#main", "@SCP@:repo.git", "@HTTPS@/git/repo.git#main"} {
		got := f.mustBuild(t, builder.Options{ContextURL: f.srv.Expand(url), Env: f.env}).Manifest
		if got != want {
			t.Errorf("%s: %s, want %s (the git:// context's)", url, got, want)
		}
	}
}

// TestSSHAndHTTPSBadInput: an unknown or changed host key, a key the server does not accept, no
// agent, an https server whose CA is not trusted: one error naming the context (or the ADD line)
// and what failed, nothing left in the store or the cache.
func TestSSHAndHTTPSBadInput(t *testing.T) {
	f := newSSHFixture(t)
	before := listing(t, f.root)
	sshURL, scpURL, httpsURL := f.srv.Expand("@SSH@/repo.git#main"), f.srv.Expand("@SCP@:repo.git"), f.srv.Expand("@HTTPS@/git/repo.git")
	tmp := t.TempDir()
	// A known_hosts naming another key for both addresses.
	_, otherKey, err := corpus.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	changed := filepath.Join(tmp, "changed_hosts")
	kh, err := os.ReadFile(f.srv.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(kh)), "\n") {
		host, _, _ := strings.Cut(l, " ")
		lines = append(lines, host+" "+strings.TrimSpace(string(gossh.MarshalAuthorizedKey(otherKey))))
	}
	if err := os.WriteFile(changed, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An agent holding a key the server does not know.
	strangerKey, _, err := corpus.NewSSHKey()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := corpus.StartSSHAgent(filepath.Join(tmp, "stranger.sock"), strangerKey)
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	sshCommand := func(knownHosts string) string {
		return "GIT_SSH_COMMAND=ssh -F /dev/null -o BatchMode=yes -o UserKnownHostsFile=" + knownHosts
	}
	noSSH := without(f.env, "GIT_SSH_COMMAND")
	addCtx := func(url string) string { return contextDir(t, "FROM scratch\nADD "+url+" /g/\n") }
	for _, tc := range []struct {
		name string
		o    builder.Options
		want []string
	}{
		{"unknown host key (hoist's default ssh, the user's known_hosts)", builder.Options{ContextURL: sshURL, Env: noSSH},
			[]string{"build context " + sshURL, "Host key verification failed", "known_hosts"}},
		{"unknown host key, scp-like", builder.Options{ContextURL: scpURL, Env: noSSH},
			[]string{"build context " + scpURL, "Host key verification failed"}},
		{"unknown host key in ADD", builder.Options{ContextDir: addCtx(sshURL), Env: noSSH},
			[]string{"Dockerfile:2", "ADD " + sshURL, "Host key verification failed"}},
		{"changed host key", builder.Options{ContextURL: sshURL, Env: append(noSSH, sshCommand(changed))},
			[]string{"build context " + sshURL, "REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed"}},
		{"a key the server does not accept", builder.Options{ContextURL: scpURL, Env: append(without(f.env, "SSH_AUTH_SOCK"), "SSH_AUTH_SOCK="+stranger.Socket)},
			[]string{"build context " + scpURL, "Permission denied (publickey)"}},
		{"no agent", builder.Options{ContextURL: sshURL, Env: without(f.env, "SSH_AUTH_SOCK")},
			[]string{"build context " + sshURL, "Permission denied (publickey)", "SSH_AUTH_SOCK is not set"}},
		{"no agent in ADD", builder.Options{ContextDir: addCtx(scpURL + "#main"), Env: without(f.env, "SSH_AUTH_SOCK")},
			[]string{"Dockerfile:2", "Permission denied (publickey)", "SSH_AUTH_SOCK is not set"}},
		{"https CA not trusted", builder.Options{ContextURL: httpsURL, Env: without(f.env, "GIT_SSL_CAINFO")},
			[]string{"build context " + httpsURL, "certificate", "GIT_SSL_CAINFO"}},
		{"https CA not trusted in ADD", builder.Options{ContextDir: addCtx(httpsURL + "#main"), Env: without(f.env, "GIT_SSL_CAINFO")},
			[]string{"Dockerfile:2", "ADD " + httpsURL, "certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, log, err := f.build(t, tc.o)
			if err == nil {
				t.Fatalf("build succeeded\n%s", log)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after := listing(t, f.root); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the root changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}
