package builder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/dfgitutil"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/internal/rootpath"
)

// gitSource is a git URL as a build context or an ADD source, parsed as BuildKit's Dockerfile
// frontend parses it (dfgitutil.ParseGitRef): https://host/repo.git#ref:subdir, git@host:repo,
// git://, ssh://, and the ?ref=&subdir=&keep-git-dir=&submodules= query form.
type gitSource struct {
	raw        string // as written, for messages
	remote     string // what git fetches from
	ref        string // branch, tag, full ref or full commit; "" = the remote's HEAD
	subdir     string // clean, relative; "" = the repository's root
	checksum   string // expected commit (prefix), from ?checksum= or ADD --checksum
	keepGitDir bool
	// keepGitDirSet: the URL itself says ?keep-git-dir=, which ADD --keep-git-dir may not contradict.
	keepGitDirSet bool
	submodules    bool
	// mtime is ?mtime= ("checkout", "commit" or "" for the default). BuildKit applies it to git
	// contexts only: its Dockerfile frontend parses it in ADD and ignores it there.
	mtime string
	// fetchByCommit (?fetch-by-commit=): the checksum is trusted as the commit, nothing is resolved
	// with ls-remote, the commit is fetched by its id and the ref only names it in a kept .git.
	fetchByCommit bool
}

// parseGit parses s as a git source. ok is false when s is not one (a plain http URL, a path).
func parseGit(s string) (*gitSource, bool, error) {
	g, isGit, err := dfgitutil.ParseGitRef(s)
	if !isGit || (g != nil && g.IndistinguishableFromLocal) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("git URL %s: %w", s, err)
	}
	src := &gitSource{raw: s, remote: g.Remote, ref: g.Ref, checksum: g.Checksum, submodules: true,
		mtime: g.MTime, fetchByCommit: g.FetchByCommit}
	if g.SubDir != "" {
		src.subdir = strings.TrimPrefix(path.Clean("/"+g.SubDir), "/")
	}
	if g.KeepGitDir != nil {
		src.keepGitDir, src.keepGitDirSet = *g.KeepGitDir, true
	}
	if g.Submodules != nil {
		src.submodules = *g.Submodules
	}
	if strings.HasPrefix(src.ref, "-") || strings.ContainsAny(src.ref, " \t\n:^~?*[\\") {
		return nil, true, fmt.Errorf("git URL %s: invalid ref %q", s, src.ref)
	}
	return src, true, nil
}

// isGitURL reports whether s is a git URL as a build context (the deprecated github.com/user/repo
// form included, as docker accepts it there).
func isGitURL(s string) bool {
	g, isGit, err := dfgitutil.ParseGitRef(s)
	return isGit && err == nil && g != nil
}

var commitRe = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// gitRunner runs the git CLI, as BuildKit and docker do, non-interactively: no terminal prompt (a
// credential must come from the SSH agent, .netrc or a credential helper) and no stdin.
type gitRunner struct {
	env []string // the environment git inherits (SSH_AUTH_SOCK, HOME, GIT_SSH_COMMAND, proxies)
	dir string   // the repository's work tree ("" for ls-remote)
}

func newGitRunner(env []string, dir string) *gitRunner {
	if env == nil {
		env = os.Environ()
	}
	e := append([]string{}, env...)
	e = append(e, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C")
	hasSSH := false
	for _, kv := range env {
		if strings.HasPrefix(kv, "GIT_SSH_COMMAND=") || strings.HasPrefix(kv, "GIT_SSH=") {
			hasSSH = true
		}
	}
	if !hasSSH {
		// An unknown host key or a passphrase must fail, not wait for an answer nobody gives.
		e = append(e, "GIT_SSH_COMMAND=ssh -o BatchMode=yes")
	}
	return &gitRunner{env: e, dir: dir}
}

func (g *gitRunner) run(ctx context.Context, args ...string) (string, error) {
	if g.dir != "" {
		args = append([]string{"-C", g.dir}, args...)
	}
	// Local-protocol tricks (file:// submodules, ext::) are refused, as BuildKit's git does.
	args = append([]string{"-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never"}, args...)
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = g.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		msg := strings.TrimSpace(errb.String())
		if msg == "" {
			msg = err.Error()
		}
		if errors.Is(err, exec.ErrNotFound) {
			msg = "git is not installed (it is needed for git URLs)"
		}
		return "", errors.New(lastLines(msg, 4))
	}
	return out.String(), nil
}

// lastLines keeps git's message short: its last n lines.
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}

// resolve finds the commit the source names without fetching it, as BuildKit's git source does
// for its cache key: a full commit is taken as is; else `git ls-remote`, preferring a branch, then a
// tag (an annotated tag is peeled to its commit). The checksum, if any, must prefix the result.
//
// With fetch-by-commit nothing is resolved: the checksum, which must be a full commit id, is the
// commit, and the ref (a bare name taken as a branch, as in BuildKit) only names it.
func (s *gitSource) resolve(ctx context.Context, env []string) (commit, usedRef string, err error) {
	switch {
	case commitRe.MatchString(s.ref):
		commit, usedRef = s.ref, s.ref
	case s.fetchByCommit:
		if s.checksum == "" {
			return "", "", fmt.Errorf("git %s: fetch-by-commit requires a checksum or a commit SHA ref", s.remote)
		}
		if !commitRe.MatchString(s.checksum) {
			return "", "", fmt.Errorf("git %s: fetch-by-commit requires a full commit SHA checksum, got %q", s.remote, s.checksum)
		}
		commit, usedRef = s.checksum, s.ref
		if usedRef == "" {
			usedRef = commit
		} else if !strings.HasPrefix(usedRef, "refs/") {
			usedRef = "refs/heads/" + usedRef
		}
		return commit, usedRef, nil
	default:
		commit, usedRef, err = s.lsRemote(ctx, newGitRunner(env, ""))
		if err != nil {
			return "", "", err
		}
	}
	if s.checksum != "" && !strings.HasPrefix(commit, s.checksum) {
		return "", "", fmt.Errorf("git %s: expected checksum to match %s, got %s", s.remote, s.checksum, commit)
	}
	return commit, usedRef, nil
}

func (s *gitSource) lsRemote(ctx context.Context, git *gitRunner) (string, string, error) {
	ref := s.ref
	if ref == "" {
		out, err := git.run(ctx, "ls-remote", "--symref", "--", s.remote, "HEAD")
		if err != nil {
			return "", "", fmt.Errorf("git %s: %w", s.remote, err)
		}
		for _, line := range strings.Split(out, "\n") {
			if t, ok := strings.CutPrefix(line, "ref: "); ok {
				ref, _, _ = strings.Cut(t, "\t")
				break
			}
		}
		if ref == "" {
			return "", "", fmt.Errorf("git %s: no default branch (empty repository?)", s.remote)
		}
	}
	out, err := git.run(ctx, "ls-remote", "--", s.remote, ref, ref+"^{}")
	if err != nil {
		return "", "", fmt.Errorf("git %s: %w", s.remote, err)
	}
	var (
		partialRef = "refs/" + strings.TrimPrefix(ref, "refs/")
		headRef    = "refs/heads/" + strings.TrimPrefix(ref, "refs/heads/")
		tagRef     = "refs/tags/" + strings.TrimPrefix(ref, "refs/tags/")
	)
	var sha, used, headSha, tagSha, peeledSha string
	for _, line := range strings.Split(out, "\n") {
		lineSha, lineRef, _ := strings.Cut(line, "\t")
		switch lineRef {
		case headRef:
			headSha = lineSha
		case tagRef:
			tagSha = lineSha
		case tagRef + "^{}":
			peeledSha = lineSha
		case partialRef:
			sha, used = lineSha, lineRef
		}
	}
	switch {
	case sha != "":
	case headSha != "":
		sha, used = headSha, headRef
	case tagSha != "":
		sha, used = tagSha, tagRef
		if peeledSha != "" {
			sha = peeledSha
		}
	default:
		return "", "", fmt.Errorf("git %s: repository does not contain ref %s", s.remote, ref)
	}
	if !commitRe.MatchString(sha) {
		return "", "", fmt.Errorf("git %s: invalid commit %q for ref %s", s.remote, sha, ref)
	}
	return sha, used, nil
}

// checkout fetches commit (which resolve found for usedRef) into dir (which must not exist) and
// checks it out there: a shallow fetch of the ref (a full fetch only when the commit cannot be
// fetched by itself), then the submodules (recursively, shallow, as BuildKit), then .git is removed
// unless keep-git-dir. It returns the commit's committer time. The subdir is applied by root.
func (s *gitSource) checkout(ctx context.Context, env []string, dir, commit, usedRef string) (time.Time, error) {
	fail := func(what string, err error) (time.Time, error) {
		return time.Time{}, fmt.Errorf("git %s: %s: %w", s.remote, what, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return time.Time{}, err
	}
	git := newGitRunner(env, dir)
	if _, err := git.run(ctx, "-c", "init.defaultBranch=master", "init", "-q"); err != nil {
		return fail("init", err)
	}
	if _, err := git.run(ctx, "remote", "add", "origin", s.remote); err != nil {
		return fail("remote add", err)
	}
	fetched := false
	switch {
	case s.fetchByCommit:
		// The server must serve the commit by its id; no fallback, as in BuildKit.
		if _, err := git.run(ctx, "fetch", "-q", "--depth=1", "--no-tags", "origin", commit); err != nil {
			return fail("fetch "+commit, err)
		}
		if !git.hasCommit(ctx, commit) {
			return time.Time{}, fmt.Errorf("git %s: commit %s not found in the repository", s.remote, commit)
		}
		if s.keepGitDir && usedRef != commit {
			if _, err := git.run(ctx, "update-ref", usedRef, commit); err != nil {
				return fail("update-ref "+usedRef, err)
			}
		}
		fetched = true
	case usedRef != commit:
		// The ref moved since resolve? Then the fetched commit differs and the full fetch below
		// looks for the resolved one. A kept .git names the ref, as BuildKit's does (an annotated
		// tag as the tag object).
		dst := "refs/hoist/fetched"
		if s.keepGitDir {
			dst = usedRef
		}
		if _, err := git.run(ctx, "fetch", "-q", "-u", "--depth=1", "--no-tags", "--force", "origin", "--", usedRef+":"+dst); err != nil {
			return fail("fetch "+usedRef, err)
		}
		fetched = git.hasCommit(ctx, commit)
	default:
		if _, err := git.run(ctx, "fetch", "-q", "--depth=1", "--no-tags", "origin", commit); err == nil {
			fetched = git.hasCommit(ctx, commit)
		}
	}
	if !fetched {
		// A server that does not serve commits by id (uploadpack.allowReachableSHA1InWant): fetch all.
		if _, err := git.run(ctx, "fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*"); err != nil {
			return fail("fetch", err)
		}
		if !git.hasCommit(ctx, commit) {
			return time.Time{}, fmt.Errorf("git %s: commit %s not found in the repository", s.remote, commit)
		}
	}
	if _, err := git.run(ctx, "checkout", "-q", "--detach", commit); err != nil {
		return fail("checkout "+commit, err)
	}
	if s.submodules {
		if _, err := os.Lstat(filepath.Join(dir, ".gitmodules")); err == nil {
			if _, err := git.run(ctx, "submodule", "update", "-q", "--init", "--recursive", "--depth=1"); err != nil {
				return fail("submodule update", err)
			}
		}
	}
	out, err := git.run(ctx, "log", "-1", "--format=%ct", commit)
	if err != nil {
		return fail("log", err)
	}
	secs, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if s.keepGitDir {
		_, _ = git.run(ctx, "update-ref", "-d", "refs/hoist/fetched")
		_, _ = git.run(ctx, "reflog", "expire", "--all", "--expire=now")
		os.Remove(filepath.Join(dir, ".git", "FETCH_HEAD"))
	} else if err := os.RemoveAll(filepath.Join(dir, ".git")); err != nil {
		return time.Time{}, err
	}
	return time.Unix(secs, 0), normalizeTree(dir, nil)
}

func (g *gitRunner) hasCommit(ctx context.Context, commit string) bool {
	_, err := g.run(ctx, "cat-file", "-e", commit+"^{commit}")
	return err == nil
}

// root returns the checkout's directory the source's subdir names, resolved inside the checkout
// with the context resolver. As in BuildKit, every component must be a real directory: a subdir
// that is (or passes through) a symlink is refused, never followed out of the repository.
func (s *gitSource) root(checkout string) (string, error) {
	if s.subdir == "" {
		return checkout, nil
	}
	e, err := rootpath.New(checkout, nil).Resolve(s.subdir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("git %s: subdirectory %q not found at %s", s.remote, s.subdir, refOrHead(s.ref))
	}
	if err != nil {
		return "", fmt.Errorf("git %s: subdirectory %q: %w", s.remote, s.subdir, err)
	}
	if e.Rel != s.subdir || !e.Info.IsDir() {
		return "", fmt.Errorf("git %s: subdirectory %q is not a directory", s.remote, s.subdir)
	}
	return e.Host, nil
}

func refOrHead(ref string) string {
	if ref == "" {
		return "HEAD"
	}
	return ref
}

// normalizeTree makes a checkout independent of this process's umask, as git records only 0644
// and 0755: regular files get 0755 when any execute bit is set, else 0644, directories 0755 (what
// BuildKit's checkout under the daemon's umask 022 gives). With mtime every entry also gets that
// time (BuildKit's mtime=commit for a git context built with SOURCE_DATE_EPOCH).
func normalizeTree(dir string, mtime *time.Time) error {
	var ts []unix.Timespec
	if mtime != nil {
		ts = []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink == 0 {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			mode := fs.FileMode(0o644)
			if fi.IsDir() || fi.Mode()&0o111 != 0 {
				mode = 0o755
			}
			if fi.Mode().Perm() != mode {
				if err := os.Chmod(p, mode); err != nil {
					return err
				}
			}
		}
		if ts == nil {
			return nil
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
}
