package corpus

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// servedModTime is the Last-Modified of every served file, so a download's mtime does not depend
// on when the repository was checked out.
var servedModTime = time.Unix(1000000000, 0).UTC()

// commitEpoch is the author and committer date of a served repository's first commit; commit i is
// i days later.
const commitEpoch = 1600000000

// Servers serves one case: its repositories over git:// (git daemon, one `git daemon --inetd` per
// connection) and smart HTTP (git http-backend under /git/), and its HTTP directory (and the
// stdin file, for the recorder, at /stdin-context), all on 127.0.0.1 ports chosen by the kernel.
type Servers struct {
	HTTP string // http://127.0.0.1:<port>
	Git  string // git://127.0.0.1:<port>

	dir     string // the case directory
	spec    Spec
	base    string // holds <name>.git bare repositories
	httpSrv *http.Server
	httpL   net.Listener
	gitL    net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	daemons map[*exec.Cmd]bool
}

// Serve creates the case's repositories under tmp and starts its servers. Close stops them.
func Serve(dir, tmp string, spec Spec) (_ *Servers, err error) {
	s := &Servers{dir: dir, spec: spec, base: filepath.Join(tmp, "git"), daemons: map[*exec.Cmd]bool{}}
	if err := os.MkdirAll(s.base, 0o755); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(spec.Git))
	for name := range spec.Git {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := makeRepo(filepath.Join(s.base, name+".git"), dir, spec.Git[name], tmp); err != nil {
			return nil, fmt.Errorf("repository %s: %w", name, err)
		}
	}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.httpL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	if s.gitL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.HTTP = "http://" + s.httpL.Addr().String()
	s.Git = "git://" + s.gitL.Addr().String()
	backend, err := gitExec("git-http-backend")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/git/", &cgi.Handler{Path: backend, Root: "/git",
		Env: []string{"GIT_PROJECT_ROOT=" + s.base, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"}})
	mux.HandleFunc("/", s.serveFile)
	s.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	s.wg.Add(2)
	go func() { defer s.wg.Done(); _ = s.httpSrv.Serve(s.httpL) }()
	go func() { defer s.wg.Done(); s.acceptGit() }()
	return s, nil
}

// serveFile serves a regular file of the case's HTTP directory (symlinks inside it followed, as a
// web server would, but never out of it), or the stdin file at /stdin-context.
func (s *Servers) serveFile(w http.ResponseWriter, r *http.Request) {
	var file string
	switch {
	case r.URL.Path == "/stdin-context" && s.spec.Context != nil && s.spec.Context.Kind == "stdin":
		file = filepath.Join(s.dir, s.spec.Context.Stdin)
	case s.spec.HTTP != "":
		root, err := os.OpenRoot(filepath.Join(s.dir, s.spec.HTTP))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer root.Close()
		f, err := root.Open(strings.TrimPrefix(path.Clean(r.URL.Path), "/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, path.Base(r.URL.Path), servedModTime, f)
		return
	default:
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	http.ServeContent(w, r, "", servedModTime, f)
}

// acceptGit runs `git daemon --inetd` for each connection to the git:// port, so there is no
// daemon whose port could be taken by someone else between choosing and listening.
func (s *Servers) acceptGit() {
	for {
		c, err := s.gitL.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			f, err := c.(*net.TCPConn).File()
			if err != nil {
				return
			}
			defer f.Close()
			cmd := exec.Command("git", "daemon", "--inetd", "--export-all", "--informative-errors",
				"--base-path="+s.base, s.base)
			cmd.Stdin, cmd.Stdout = f, f
			cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
			if !s.track(cmd) {
				return
			}
			_ = cmd.Wait()
			s.mu.Lock()
			delete(s.daemons, cmd)
			s.mu.Unlock()
		}()
	}
}

// track starts cmd unless the servers are closing.
func (s *Servers) track(cmd *exec.Cmd) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.daemons == nil || cmd.Start() != nil {
		return false
	}
	s.daemons[cmd] = true
	return true
}

// Close stops the servers and every git daemon still serving.
func (s *Servers) Close() {
	if s.httpSrv != nil {
		_ = s.httpSrv.Close()
	} else if s.httpL != nil {
		s.httpL.Close()
	}
	if s.gitL != nil {
		s.gitL.Close()
	}
	s.mu.Lock()
	for cmd := range s.daemons {
		_ = cmd.Process.Kill()
	}
	s.daemons = nil
	s.mu.Unlock()
	s.wg.Wait()
}

// Expand replaces the placeholders in v with the servers' addresses.
func (s *Servers) Expand(v string) string {
	return strings.NewReplacer(HTTPPlaceholder, s.HTTP, GitPlaceholder, s.Git).Replace(v)
}

// Normalize replaces the servers' addresses in a dump with the placeholders.
func (s *Servers) Normalize(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte(s.HTTP), []byte(HTTPPlaceholder))
	return bytes.ReplaceAll(b, []byte(s.Git), []byte(GitPlaceholder))
}

// makeRepo creates the bare repository bare from commits, with fixed identities and dates.
func makeRepo(bare, dir string, commits []Commit, tmp string) error {
	if len(commits) == 0 {
		return errors.New("no commits")
	}
	index := filepath.Join(tmp, "index-"+filepath.Base(bare))
	defer os.Remove(index)
	git := func(date int64, worktree string, args ...string) (string, error) {
		full := append([]string{"--git-dir=" + bare}, args...)
		if worktree != "" {
			full = append([]string{"--work-tree=" + worktree}, full...)
		}
		cmd := exec.Command("git", full...)
		d := "@" + strconv.FormatInt(date, 10) + " +0000"
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+tmp, "GIT_INDEX_FILE="+index,
			"GIT_AUTHOR_NAME=corpus", "GIT_AUTHOR_EMAIL=corpus@example.com", "GIT_AUTHOR_DATE="+d,
			"GIT_COMMITTER_NAME=corpus", "GIT_COMMITTER_EMAIL=corpus@example.com", "GIT_COMMITTER_DATE="+d)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := git(0, "", "init", "-q", "--bare"); err != nil {
		return err
	}
	var parent, head string
	for i, c := range commits {
		date := int64(commitEpoch + i*86400)
		tree := filepath.Join(dir, c.Tree)
		if _, err := git(date, "", "read-tree", "--empty"); err != nil {
			return err
		}
		if _, err := git(date, tree, "add", "-A", "--", "."); err != nil {
			return err
		}
		treeID, err := git(date, "", "write-tree")
		if err != nil {
			return err
		}
		args := []string{"commit-tree", treeID, "-m", "commit " + strconv.Itoa(i)}
		if parent != "" {
			args = append(args, "-p", parent)
		}
		if parent, err = git(date, "", args...); err != nil {
			return err
		}
		for _, b := range c.Branches {
			if _, err := git(date, "", "update-ref", "refs/heads/"+b, parent); err != nil {
				return err
			}
			if head == "" || b == "main" {
				head = b
			}
		}
		for _, t := range c.Tags {
			if _, err := git(date, "", "update-ref", "refs/tags/"+t, parent); err != nil {
				return err
			}
		}
		for _, t := range c.AnnotatedTags {
			if _, err := git(date, "", "tag", "-a", "-m", "tag "+t, t, parent); err != nil {
				return err
			}
		}
	}
	if head == "" {
		return errors.New("no branch")
	}
	_, err := git(0, "", "symbolic-ref", "HEAD", "refs/heads/"+head)
	return err
}

// gitExec finds a program of git's exec path (git-http-backend).
func gitExec(name string) (string, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return "", fmt.Errorf("git --exec-path: %w (is git installed?)", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), name), nil
}
