package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hoistbuild/hoist/internal/corpus"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestBuildRemoteContext: `hoist build` from a git URL (git daemon, smart HTTP, #ref:subdir), a
// tarball URL and `-` (a tar, a lone Dockerfile) prints the image ID the same tree gives as a local
// directory with --source-date-epoch; bad remote contexts fail with one error naming the context
// and leave nothing behind.
func TestBuildRemoteContext(t *testing.T) {
	root := newRoot(t)
	git := testutil.NewGitServers(t)
	files := map[string]string{
		"Dockerfile":     "FROM busybox\nCOPY . /app/\nRUN test -f /app/a.txt\n",
		"a.txt":          "a\n",
		"sub/Dockerfile": "FROM busybox\nCOPY b.txt /b\n", "sub/b.txt": "b\n",
	}
	work, local := t.TempDir(), t.TempDir()
	testutil.WriteFiles(t, work, files)
	testutil.WriteFiles(t, local, files)
	testutil.Git(t, work, "init", "-q", "-b", "main")
	testutil.Git(t, work, "add", "-A")
	testutil.Git(t, work, "commit", "-q", "-m", "one")
	testutil.Git(t, work, "tag", "v1")
	git.Publish(t, work, "repo")
	tarball := tarOf(t, local)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(tarball)) }))
	defer srv.Close()

	build := func(stdin string, args ...string) string {
		t.Helper()
		res := mustOK(t, hoist(t, root, stdin, append([]string{"build", "-q", "--source-date-epoch", "1000000000"}, args...)...), strings.Join(args, " "))
		return strings.TrimSpace(res.stdout)
	}
	want := build("", local)
	for _, args := range [][]string{
		{git.Daemon + "/repo.git"},
		{git.HTTP + "/repo.git#v1"},
		{srv.URL + "/ctx.tar"},
		{"-"},
	} {
		if got := build(tarball, args...); got != want {
			t.Errorf("build %s: %s, the local directory gives %s", args[0], got, want)
		}
	}
	wantSub := build("", filepath.Join(local, "sub"))
	if got := build("", git.Daemon+"/repo.git#main:sub"); got != wantSub {
		t.Errorf("#main:sub: %s, want %s", got, wantSub)
	}
	df := "FROM busybox\nLABEL only=dockerfile\n"
	dfPath := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(dfPath, []byte(df), 0o644)
	if got, want := build(df, "-"), build("", "-f", dfPath, t.TempDir()); got != want {
		t.Errorf("Dockerfile on stdin: %s, want %s", got, want)
	}

	for _, tc := range []struct {
		ctx, stdin string
		args, want []string
	}{
		{ctx: "git://127.0.0.1:1/nothing.git", want: []string{"build context git://127.0.0.1:1/nothing.git"}},
		{ctx: git.Daemon + "/repo.git#nosuchref", want: []string{"build context", "nosuchref"}},
		{ctx: git.Daemon + "/repo.git#main:nosuchdir", want: []string{"build context", "nosuchdir"}},
		{ctx: "-", stdin: "\x1f\x8b\x08garbage", want: []string{"build context -"}},
		{ctx: "-", args: []string{"-f", "-"}, stdin: "FROM busybox\n", want: []string{"can't use stdin for both"}},
	} {
		res := hoist(t, root, tc.stdin, append(append([]string{"build", "-t", "bad:latest"}, tc.args...), tc.ctx)...)
		if res.code == 0 {
			t.Errorf("build %s succeeded", tc.ctx)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(lastErrorLine(res.stderr), w) {
				t.Errorf("build %s: error %q lacks %q", tc.ctx, lastErrorLine(res.stderr), w)
			}
		}
		if l := countLeftovers(t, root); l != (leftovers{}) {
			t.Errorf("build %s: leftovers: %s", tc.ctx, l)
		}
	}
}

// TestBuildRemoteContextLikeDocker builds the same git URL (#ref, a .dockerignore and symlinks in
// it, which BuildKit does not apply to a remote context; docker 20.10's BuildKit answers "subdir not
// supported yet" to #ref:subdir, and takes "master" for a URL without a ref) and the same tarball URL with docker's BuildKit (the daemon's /build API with
// remote=, which fetches the context itself) and with hoist, and compares the copied files' names,
// modes, sizes and owners (mtimes are the checkout's, different in each).
func TestBuildRemoteContextLikeDocker(t *testing.T) {
	prereq.Require(t, prereq.Docker)
	root := newRoot(t)
	git := testutil.NewGitServers(t)
	work := t.TempDir()
	files := map[string]string{
		"Dockerfile": "FROM busybox\nCOPY . /app/\nRUN cd /app && find . | sort | xargs stat -c '%n %a %s %u %g %F' > /list\n",
		"a.txt":      "a\n", ".dockerignore": "ignored\n", "ignored": "x\n", "bin/tool": "#!/bin/sh\n",
		"d/e.txt": "e\n", "hostetc": "->/etc", "d/up": "->../../../../etc/passwd",
	}
	testutil.WriteFiles(t, work, files)
	os.Chmod(filepath.Join(work, "bin/tool"), 0o755)
	tarball := tarOf(t, work)
	testutil.Git(t, work, "init", "-q", "-b", "main")
	testutil.Git(t, work, "add", "-A")
	testutil.Git(t, work, "commit", "-q", "-m", "one")
	git.Publish(t, work, "repo")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(tarball)) }))
	defer srv.Close()
	for _, url := range []string{git.Daemon + "/repo.git#main", git.HTTP + "/repo.git#main", srv.URL + "/ctx.tar"} {
		tag := "hoist-remotectx-test:latest"
		if err := dockerBuildRemote(url, tag); err != nil {
			t.Fatalf("docker cannot build %s: %v", url, err)
		}
		dockerList, err := exec.Command("docker", "run", "--rm", tag, "cat", "/list").Output()
		exec.Command("docker", "rmi", "-f", tag).Run()
		if err != nil {
			t.Fatal(err)
		}
		mustOK(t, hoist(t, root, "", "build", "-q", "-t", tag, url), "hoist build")
		res := mustOK(t, hoist(t, root, "", "run", "--rm", tag, "cat", "/list"), "hoist run")
		if res.stdout != string(dockerList) {
			t.Errorf("%s: the context differs:\nhoist:\n%s\ndocker:\n%s", url, res.stdout, dockerList)
		}
	}
}

// dockerBuildRemote has the docker daemon build a remote context with BuildKit (version=2): the
// daemon fetches it, so no session (and no buildx) is needed.
func dockerBuildRemote(remote, tag string) error {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", "/var/run/docker.sock")
	}}}
	q := url.Values{"remote": {remote}, "version": {"2"}, "t": {tag}, "networkmode": {"host"}}
	resp, err := c.Post("http://docker/v1.41/build?"+q.Encode(), "application/x-tar", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || bytes.Contains(body, []byte(`"error"`)) || !bytes.Contains(body, []byte("moby.image.id")) {
		return fmt.Errorf("%s: %s", resp.Status, lastLines(string(body), 3))
	}
	return nil
}

func tarOf(t *testing.T, dir string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	return buf.String()
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestBuildSSHAndHTTPSContext: `hoist build` of a git URL over ssh (ssh:// and scp-like) and https
// with the agent in SSH_AUTH_SOCK, the host key in the known_hosts GIT_SSH_COMMAND names and the CA
// in GIT_SSL_CAINFO prints the image ID the git:// URL gives; hoist's own ssh (no GIT_SSH_COMMAND)
// refuses the unknown host key and a missing agent is named: exit 1, one error naming the context,
// nothing left behind.
func TestBuildSSHAndHTTPSContext(t *testing.T) {
	testutil.RequireSSH(t)
	prereq.Require(t, prereq.Root) // the scp-like URL's server listens on port 22
	root := newRoot(t)
	dir := t.TempDir()
	testutil.WriteFiles(t, filepath.Join(dir, "tree"), map[string]string{
		"Dockerfile": "FROM busybox\nCOPY . /app/\nRUN test -f /app/a.txt\n", "a.txt": "a\n"})
	srv, err := corpus.Serve(dir, t.TempDir(), corpus.Spec{SSH: true, HTTPS: true,
		Git: map[string][]corpus.Commit{"repo": {{Tree: "tree", Branches: []string{"main"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	run := func(env []string, args ...string) result {
		t.Helper()
		cmd := hoistCmd(root, args...)
		cmd.Env = append(cmd.Env, env...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
	}
	build := func(env []string, url string) result {
		return run(env, "build", "-q", "--source-date-epoch", "1000000000", "-t", "ssh:latest", srv.Expand(url))
	}
	want := strings.TrimSpace(mustOK(t, build(nil, "@GIT@/repo.git"), "git://").stdout)
	for _, url := range []string{"@SSH@/repo.git#main", "@SCP@:repo.git", "@HTTPS@/git/repo.git"} {
		if got := strings.TrimSpace(mustOK(t, build(srv.GitClientEnv(), url), url).stdout); got != want {
			t.Errorf("%s: %s, the git:// URL gives %s", url, got, want)
		}
	}
	for _, tc := range []struct {
		url  string
		env  []string
		want []string
	}{
		{"@SCP@:repo.git", []string{"SSH_AUTH_SOCK=" + srv.SSHAuthSock}, []string{"Error: build context @SCP@:repo.git:", "Host key verification failed", "known_hosts"}},
		{"@SSH@/repo.git", append(srv.GitClientEnv(), "SSH_AUTH_SOCK="), []string{"Error: build context @SSH@/repo.git:", "Permission denied (publickey)", "SSH_AUTH_SOCK is not set"}},
	} {
		res := build(tc.env, tc.url)
		msg := string(srv.Normalize([]byte(lastErrorLine(res.stderr))))
		if res.code != 1 || res.stdout != "" {
			t.Errorf("%s: exit %d, stdout %q; want 1 and nothing", tc.url, res.code, res.stdout)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", tc.url, msg, w)
			}
		}
		if l := countLeftovers(t, root); l != (leftovers{}) {
			t.Errorf("%s: leftovers: %s", tc.url, l)
		}
	}
}
