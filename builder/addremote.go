package builder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
)

// ADD of a URL and of a git repository, with BuildKit's cache keys: a URL with --checksum is keyed
// by the checksum (nothing is fetched on a hit); a URL without is fetched to key it by its content;
// a git source is keyed by the commit `git ls-remote` resolves its ref to, and fetched on a miss.

// remoteFetches shares a build's downloads and git checkouts between its steps and stages: each URL
// (with its checksum) is downloaded once, each git source checked out once, into the scratch dir.
type remoteFetches struct {
	mu sync.Mutex
	m  map[string]*remoteFetch
	n  int
}

type remoteFetch struct {
	done chan struct{}
	dl   *downloaded
	dir  string // a git checkout's root (its subdir applied)
	err  error
}

// once runs fn for key the first time and returns its result to every caller.
func (r *remoteFetches) once(ctx context.Context, key string, fn func(n int) (*remoteFetch, error)) (*remoteFetch, error) {
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]*remoteFetch{}
	}
	f, ok := r.m[key]
	if !ok {
		f = &remoteFetch{done: make(chan struct{})}
		r.m[key] = f
		r.n++
		n := r.n
		r.mu.Unlock()
		res, err := fn(n)
		if res != nil {
			f.dl, f.dir = res.dl, res.dir
		}
		f.err = err
		close(f.done)
		return f, err
	}
	r.mu.Unlock()
	select {
	case <-f.done:
		return f, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// download fetches url once per build (per checksum), verifying the checksum if there is one.
func (bd *build) download(ctx context.Context, url, checksum string) (*downloaded, error) {
	f, err := bd.fetches.once(ctx, "url\x00"+url+"\x00"+checksum, func(int) (*remoteFetch, error) {
		d := newDownloader(filepath.Join(bd.scratch.path, "downloads"), bd.opts.MaxDownloadSize, bd.opts.DownloadTimeout)
		dl, err := d.get(ctx, url, checksum)
		return &remoteFetch{dl: dl}, err
	})
	if err != nil {
		return nil, err
	}
	return f.dl, nil
}

// checkoutGit checks out the item's git source at the commit its key was computed for, once per
// build, and returns the directory its subdir names.
func (bd *build) checkoutGit(ctx context.Context, it copyItem) (string, error) {
	g := it.git
	key := fmt.Sprintf("git\x00%s\x00%s\x00%s\x00%t\x00%t", g.remote, it.commit, g.subdir, g.keepGitDir, g.submodules)
	if g.keepGitDir {
		key += "\x00" + it.gitRef // a kept .git names the ref
	}
	f, err := bd.fetches.once(ctx, key, func(n int) (*remoteFetch, error) {
		dir := filepath.Join(bd.scratch.path, "git-"+strconv.Itoa(n))
		bd.progress.printf("[internal] fetching git source %s at %s\n", g.remote, it.commit)
		if _, err := g.checkout(ctx, bd.opts.Env, dir, it.commit, it.gitRef); err != nil {
			return nil, err
		}
		root, err := g.root(dir)
		return &remoteFetch{dir: root}, err
	})
	if err != nil {
		return "", err
	}
	return f.dir, nil
}

// checkRemoteSources applies BuildKit's rules for ADD --checksum: ADD only, one source, and that
// source a URL or a git repository.
func checkRemoteSources(spec *copySpec, checksum string) error {
	if spec.step.KeepGitDir != nil {
		// BuildKit ignores it for other sources; an option that does nothing is refused here.
		for _, src := range spec.sources {
			if _, ok, _ := parseGit(src); !ok {
				return fmt.Errorf("ADD --keep-git-dir applies to git sources only, not %q", src)
			}
		}
	}
	if checksum == "" {
		return nil
	}
	if !spec.step.Add {
		return errors.New("checksum can't be specified for COPY")
	}
	if len(spec.sources) != 1 {
		return errors.New("checksum can't be specified for multiple sources")
	}
	if _, ok, _ := parseGit(spec.sources[0]); !ok && !isURL(spec.sources[0]) {
		return errors.New("checksum requires HTTP(S) or Git sources")
	}
	return nil
}

// keyRemotes fills in the cache-key component of each URL and git item (remoteKey), resolving
// what must be resolved: a URL without --checksum is downloaded (its content is the key); a git
// source's ref is resolved to a commit with `git ls-remote`.
func (sr *stageRun) keyRemotes(ctx context.Context, items []copyItem, checksum string) error {
	for i := range items {
		it := &items[i]
		switch {
		case it.git != nil:
			g := it.git
			if checksum != "" && g.checksum != "" && checksum != g.checksum {
				return fmt.Errorf("checksum mismatch %q != %q", checksum, g.checksum)
			}
			if checksum != "" {
				g.checksum = checksum
			}
			if g.checksum != "" && !hexRe(g.checksum) {
				return fmt.Errorf("invalid checksum %s for Git URL, expected hex commit hash", g.checksum)
			}
			if sr.bd.b.cachedOnly { // git ls-remote reaches the remote
				return ErrNotCachedOnly
			}
			commit, usedRef, err := g.resolve(ctx, sr.bd.opts.Env)
			if err != nil {
				return err
			}
			it.commit, it.gitRef = commit, usedRef
			it.remoteKey = fmt.Sprintf("git %s commit %s subdir %q keep-git-dir %t submodules %t", g.remote, commit, g.subdir, g.keepGitDir, g.submodules)
			if g.keepGitDir {
				it.remoteKey += " ref " + usedRef // .git names the ref
			}
		case it.url != "" && checksum != "":
			if _, err := digest.Parse(checksum); err != nil {
				return fmt.Errorf("invalid checksum %q: %w", checksum, err)
			}
			it.remoteKey = "url checksum " + checksum + " name " + urlFileName(it.url)
		case it.url != "":
			if sr.bd.b.cachedOnly {
				return ErrNotCachedOnly
			}
			dl, err := sr.bd.download(ctx, it.url, "")
			if err != nil {
				return err
			}
			it.remoteKey = "url " + string(dl.digest) + " name " + urlFileName(it.url)
			if !dl.lastModified.IsZero() {
				it.remoteKey += " modified " + dl.lastModified.UTC().Format(time.RFC3339)
			}
		}
	}
	return nil
}

func hexRe(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

// addURL writes a downloaded ADD source (fetched and verified now if the key did not need it):
// 0600 unless --chmod, the Last-Modified time, named after the URL in a directory destination; with
// --unpack=true an archive is extracted instead, as BuildKit's AttemptUnpack.
func (sr *stageRun) addURL(ctx context.Context, c *copier, it copyItem, spec *copySpec, checksum string, uid, gid int) error {
	dl, err := sr.bd.download(ctx, it.url, checksum)
	if err != nil {
		return err
	}
	if u := spec.step.Unpack; u != nil && *u {
		ok, err := c.tryExtract(ctx, dl.file, spec.dest, uid, gid)
		if err != nil || ok {
			return err
		}
	}
	target := spec.dest
	if spec.destDir {
		target = path.Join(spec.dest, urlFileName(it.url))
	}
	mtime := time.Now()
	if !dl.lastModified.IsZero() {
		mtime = dl.lastModified
	}
	mode := os.FileMode(0o600)
	if spec.chmod != nil {
		mode = *spec.chmod
	}
	f, err := os.Open(dl.file)
	if err != nil {
		return err
	}
	defer f.Close()
	return c.writeFile(target, f, mode, uid, gid, mtime)
}

// addGit copies the checked-out tree of a git source into the destination directory, as
// BuildKit's ADD of a git URL (the contents of the repository or its subdir; no .dockerignore).
func (sr *stageRun) addGit(ctx context.Context, c *copier, it copyItem, spec *copySpec, uid, gid int) error {
	root, err := sr.bd.checkoutGit(ctx, it)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return err
	}
	dst, err := c.mkdirAll(strings.TrimSuffix(spec.dest, "/"), uid, gid)
	if err != nil {
		return err
	}
	saved := c.ctx
	c.ctx = nil // the context's .dockerignore is not the repository's
	defer func() { c.ctx = saved }()
	return c.copyTree(copyItem{host: root, rel: it.rel, info: fi}, dst)
}
