package builder

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// IsRemoteContext reports whether a build's CONTEXT argument names a remote context (a git URL or an
// http(s) URL), as docker decides after checking that no such local directory exists.
func IsRemoteContext(s string) bool {
	if isURL(s) {
		return true
	}
	_, ok, _ := parseGit(s)
	return ok
}

// contextSource is the build context as the build sees it, wherever it came from.
type contextSource struct {
	ctx *buildContext
	// id names the context in the build history: the directory, the URL or "-".
	id string
	// temporary is true when the context was fetched into the build's scratch dir: its stat data
	// is worth nothing to a later build, so the stat cache is not kept.
	temporary bool
	// gitURL and gitCommit name a git context's repository (credentials removed) and the commit
	// checked out, for the provenance (BuildKit's git material and configSource).
	gitURL, gitCommit string
}

// openSource opens the local context directory, or fetches a remote one (git, http, stdin) into
// scratch/context. It adjusts opts for the Dockerfile the remote context supplies: a relative -f
// names a file inside the context (a git subdir's), an absolute one a local file, as buildx does.
func (b *Builder) openSource(ctx context.Context, opts *Options, scratch *scratchDir, pw *progress) (*contextSource, error) {
	if opts.ContextURL == "" && opts.ContextReader == nil {
		bctx, err := openContext(opts.ContextDir)
		if err != nil {
			return nil, err
		}
		return &contextSource{ctx: bctx, id: bctx.dir}, nil
	}
	dir := filepath.Join(scratch.path, "context")
	var (
		id       = opts.ContextURL
		lone     []byte // a Dockerfile that is the whole context (stdin)
		loneFile string // ... or the one file of an http context
		archive  bool   // the context was unpacked from a tar archive
		err      error

		gitURL, gitCommit string
	)
	switch {
	case opts.ContextReader != nil:
		id = "-"
		lone, err = fetchStdinContext(ctx, opts.ContextReader, dir)
		archive = err == nil && lone == nil
		if err == nil && lone != nil && opts.Dockerfile != "" {
			err = errors.New("ambiguous Dockerfile source: both stdin and -f name a Dockerfile")
		}
	default:
		if g, ok, perr := parseGit(opts.ContextURL); ok {
			if perr != nil {
				return nil, fmt.Errorf("build context: %w", perr)
			}
			if v, err := strconv.ParseBool(opts.BuildArgs["BUILDKIT_CONTEXT_KEEP_GIT_DIR"]); err == nil && v {
				g.keepGitDir = true
			}
			var commit string
			dir, commit, err = b.fetchGitContext(ctx, opts, g, scratch, pw)
			gitURL, gitCommit = redactURL(g.remote), commit
		} else {
			loneFile, err = b.fetchHTTPContext(ctx, opts, scratch, dir, pw)
			archive = err == nil && loneFile == ""
		}
	}
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", redactURL(id), err)
	}
	bctx, err := openContext(dir)
	if err != nil {
		return nil, err
	}
	bctx.keepOwners = archive
	switch {
	case lone != nil:
		opts.DockerfileData, opts.Dockerfile = lone, ""
	case loneFile != "":
		// BuildKit names the downloaded file "context" and reads it as the Dockerfile, whatever -f says.
		opts.Dockerfile, opts.DockerfileData = filepath.Join(bctx.dir, loneFile), nil
	case opts.Dockerfile != "" && opts.Dockerfile != "-" && opts.DockerfileData == nil && !filepath.IsAbs(opts.Dockerfile):
		opts.Dockerfile = filepath.Join(bctx.dir, filepath.FromSlash(path.Clean("/"+filepath.ToSlash(opts.Dockerfile))))
	}
	return &contextSource{ctx: bctx, id: id, temporary: true, gitURL: gitURL, gitCommit: gitCommit}, nil
}

// fetchGitContext clones the repository (shallow) and returns the directory of its subdir and the
// commit checked out. With
// mtime=commit every file gets the commit's time (contextMTimeCommit).
func (b *Builder) fetchGitContext(ctx context.Context, opts *Options, g *gitSource, scratch *scratchDir, pw *progress) (string, string, error) {
	pw.printf("[internal] load git source %s\n", g.raw)
	checkout := filepath.Join(scratch.path, "context-git")
	commit, usedRef, err := g.resolve(ctx, opts.Env)
	if err != nil {
		return "", "", err
	}
	when, err := g.checkout(ctx, opts.Env, checkout, commit, usedRef)
	if err != nil {
		return "", "", err
	}
	pw.printf("[internal] git source %s at %s\n", g.remote, commit)
	if g.contextMTimeCommit(opts) {
		if err := normalizeTree(checkout, &when); err != nil {
			return "", "", err
		}
	}
	dir, err := g.root(checkout)
	return dir, commit, err
}

// fetchHTTPContext downloads an http(s) context: a tar archive (any compression) is extracted into
// dir; anything else is a Dockerfile-only context, kept as dir/context (its name in BuildKit).
func (b *Builder) fetchHTTPContext(ctx context.Context, opts *Options, scratch *scratchDir, dir string, pw *progress) (string, error) {
	pw.printf("[internal] load remote build context %s\n", redactURL(opts.ContextURL))
	dl, err := newDownloader(filepath.Join(scratch.path, "downloads"), opts.MaxDownloadSize, opts.DownloadTimeout).get(ctx, opts.ContextURL, "")
	if err != nil {
		return "", err
	}
	f, err := os.Open(dl.file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, 1024)
	n, _ := io.ReadFull(f, head)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if isArchiveHeader(head[:n]) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		if err := extractArchive(ctx, f, dir); err != nil {
			return "", fmt.Errorf("extracting: %w", err)
		}
		return "", nil
	}
	if err := atomicfile.Rename(dl.file, filepath.Join(dir, "context")); err != nil {
		return "", err
	}
	if !dl.lastModified.IsZero() {
		_ = os.Chtimes(filepath.Join(dir, "context"), dl.lastModified, dl.lastModified)
	}
	return "context", nil
}

// fetchStdinContext reads a `-` context: a tar archive (plain or compressed) is extracted into dir;
// anything else is a Dockerfile, returned, with an empty context (docker's rule: the first 512
// bytes decide).
func fetchStdinContext(ctx context.Context, r io.Reader, dir string) ([]byte, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	head, err := br.Peek(512)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("reading stdin: %w", err)
	}
	if len(head) == 0 {
		return nil, errors.New("stdin is empty: want a tar archive or a Dockerfile")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if !isArchiveHeader(head) {
		return io.ReadAll(br)
	}
	if err := extractArchive(ctx, br, dir); err != nil {
		return nil, fmt.Errorf("extracting: %w", err)
	}
	return nil, nil
}

// contextMTimeCommit is BuildKit's rule for a git context's file times: the commit's time with
// ?mtime=commit, or with SOURCE_DATE_EPOCH (--source-date-epoch, or the build arg, as BuildKit's
// frontend reads it) unless the URL says ?mtime=checkout; else the checkout's time.
func (g *gitSource) contextMTimeCommit(opts *Options) bool {
	if g.mtime != "" {
		return g.mtime == "commit"
	}
	return opts.SourceDateEpoch != nil || opts.BuildArgs["SOURCE_DATE_EPOCH"] != ""
}
