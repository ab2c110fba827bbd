package testutil

import (
	"net"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// GitServers serves the bare repositories under Base over git:// (git daemon) and smart HTTP (git
// http-backend behind a CGI handler), both on 127.0.0.1.
type GitServers struct {
	Base   string // holds <name>.git bare repositories
	Daemon string // git://127.0.0.1:<port>
	HTTP   string // http://127.0.0.1:<port>
}

// RequireGit skips the test when the git CLI is missing (fails it in strict mode: hack/deps.sh
// installs git).
func RequireGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		prereq.Skip(t, "git is not installed (hack/deps.sh)")
	}
}

// RequireSSH skips the test when OpenSSH's client is missing (fails it in strict mode: hack/deps.sh
// installs openssh-client): git runs ssh for ssh:// and git@host: URLs.
func RequireSSH(t testing.TB) {
	t.Helper()
	RequireGit(t)
	if _, err := exec.LookPath("ssh"); err != nil {
		prereq.Skip(t, "ssh is not installed (hack/deps.sh: openssh-client)")
	}
}

// Git runs git in dir with a fixed identity and dates and fails the test on error.
func Git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// NewGitServers starts git daemon and an http-backend server over a new base directory.
func NewGitServers(t testing.TB) *GitServers {
	t.Helper()
	RequireGit(t)
	base := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	daemon := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--base-path="+base,
		"--listen=127.0.0.1", "--port="+strconv.Itoa(port), base)
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("git daemon did not listen: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	backend := "/usr/lib/git-core/git-http-backend"
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	srv := httptest.NewServer(&cgi.Handler{Path: backend,
		Env: []string{"GIT_PROJECT_ROOT=" + base, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	return &GitServers{Base: base, Daemon: "git://127.0.0.1:" + strconv.Itoa(port), HTTP: srv.URL}
}

// Publish makes the repository in work (a work tree) available as <name>.git on the servers,
// with all its branches and tags (again after new commits).
func (g *GitServers) Publish(t testing.TB, work, name string) {
	t.Helper()
	bare := filepath.Join(g.Base, name+".git")
	if _, err := os.Stat(bare); err != nil {
		Git(t, g.Base, "init", "-q", "--bare", bare)
	}
	Git(t, work, "push", "-q", "--force", "--tags", bare, "refs/heads/*:refs/heads/*")
	Git(t, bare, "symbolic-ref", "HEAD", "refs/heads/"+Git(t, work, "symbolic-ref", "--short", "HEAD"))
}

// WriteFiles writes name → content under dir (mode 0644; a name ending in / is a 0755 directory, a
// content starting with "->" a symlink to the rest).
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case strings.HasSuffix(name, "/"):
			err = os.MkdirAll(p, 0o755)
		case strings.HasPrefix(content, "->"):
			err = os.Symlink(content[2:], p)
		default:
			if err = os.WriteFile(p, []byte(content), 0o644); err == nil {
				err = os.Chmod(p, 0o644)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Directories as git checks them out, whatever the umask.
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != dir {
			err = os.Chmod(p, 0o755)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
