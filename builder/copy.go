package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/moby/patternmatcher"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/internal/rootpath"
	"github.com/hoistbuild/hoist/parser"
)

// copyItem is one selected source of COPY/ADD.
type copyItem struct {
	host string // path on the host (inside the context or a mounted rootfs), resolved: no symlink in it
	rel  string // the source as named (relative to the source root, slash-separated): keys, names
	real string // where rel resolved to in the source root: .dockerignore matching
	info fs.FileInfo
	data *string // heredoc content instead of a file
	url  string  // ADD of a URL
	git  *gitSource
	// remoteKey is the cache-key component of a URL or git item (see keyRemotes); commit and
	// gitRef are what a git item's ref resolved to.
	remoteKey      string
	commit, gitRef string
	// walked is what walkSelected found under a directory item when hashItems walked it, so that
	// the copy does not walk the context a second time.
	walked []walkedEntry
}

type walkedEntry struct {
	rel, host string
	fi        fs.FileInfo
}

// copySpec is a COPY/ADD after expansion.
type copySpec struct {
	step     *parser.CopyStep
	sources  []string
	dest     string // absolute, may end with "/"
	destDir  bool   // the destination is a directory (ends with "/" or several sources)
	uid, gid int    // -1 = keep the source's (COPY --from) or 0 (context)
	chown    string
	chmod    *os.FileMode
	fromCtx  bool
	checksum string                // ADD --checksum, expanded
	ctxFiles map[string]sourceFile // host path → the context file the copy reads (see hashItems)
}

func (sr *stageRun) dispatchCopy(ctx context.Context, s *parser.CopyStep) (bool, error) {
	spec, err := sr.expandCopy(s)
	if err != nil {
		return false, err
	}
	next := sr.st.clone()
	parentKey := sr.st.key
	// COPY --link makes its layer independently of what is below it (BuildKit's semantics): a copy into
	// an empty tree, keyed without the parent. --chown by name needs the parent's /etc/passwd, so such a
	// copy stays a plain COPY.
	if s.Link && !s.Add && !chownNeedsNames(spec.chown) {
		parentKey = ""
		sr.linked = true
		defer func() { sr.linked = false }()
	}
	kb := cache.NewKey(parentKey, string(s.Kind())).Strings("sources", spec.sources).String("dest", spec.dest).
		String("chown", spec.chown).String("chmod", fmt.Sprint(s.Chmod)).Bool("link", s.Link).
		String("checksum", s.Checksum).Strings("excludes", s.Excludes).String("user", sr.st.cfg.Config.User)
	createdBy := fmt.Sprintf("%s %s %s", s.Kind(), strings.Join(spec.sources, " "), spec.dest)

	// Where do the sources come from?
	var (
		srcRoot  string
		items    []copyItem
		cleanup  = func() {}
		fromName = s.From
	)
	defer func() { cleanup() }()
	switch {
	case len(s.Heredocs) > 0:
		for _, h := range s.Heredocs {
			data := h.Data
			if h.Expand {
				if data, err = sr.expand(data); err != nil {
					return false, err
				}
			}
			d := data
			items = append(items, copyItem{rel: h.Name, data: &d})
			kb.String("heredoc:"+h.Name, data)
		}
	case fromName == "":
		spec.fromCtx = true
		srcRoot = sr.bd.ctx.dir
		items, err = sr.selectContext(spec)
		if err != nil {
			return false, err
		}
		if err := sr.keyRemotes(ctx, items, spec.checksum); err != nil {
			return false, err
		}
		digest, cd, err := sr.bd.hashItems(items)
		if err != nil {
			return false, err
		}
		kb.String(contentComponent, digest).Files(cd.files)
		spec.ctxFiles = cd.byHost
	default:
		src, err := sr.sourceState(ctx, fromName)
		if err != nil {
			return false, err
		}
		kb.String("from", string(src.key))
		// The source rootfs is mounted only if the step must run.
		srcState := src
		return sr.fsStep(ctx, next, kb, createdBy, func(ctx context.Context, sfs *stepFS) error {
			root, done, err := sr.bd.b.mountReadOnly(ctx, sr.bd.scratch, srcState.layers)
			if err != nil {
				return err
			}
			defer done()
			items, err := selectRootfs(root, spec.sources)
			if err != nil {
				return err
			}
			return sr.copyInto(ctx, sfs, root, items, spec)
		})
	}
	_ = srcRoot
	return sr.fsStep(ctx, next, kb, createdBy, func(ctx context.Context, sfs *stepFS) error {
		return sr.copyInto(ctx, sfs, srcRoot, items, spec)
	})
}

// sourceState is the image state named by COPY --from: a stage, or an image.
func (sr *stageRun) sourceState(ctx context.Context, from string) (*imageState, error) {
	if i, ok := sr.bd.plan.StageByName(from, len(sr.bd.plan.Stages)); ok {
		return sr.bd.wait(ctx, i)
	}
	return sr.bd.imageState(ctx, from)
}

func (sr *stageRun) expandCopy(s *parser.CopyStep) (*copySpec, error) {
	spec := &copySpec{step: s, uid: -1, gid: -1}
	var err error
	for _, src := range s.Sources {
		v, err := sr.expand(src)
		if err != nil {
			return nil, err
		}
		spec.sources = append(spec.sources, v)
	}
	dest, err := sr.expand(s.Dest)
	if err != nil {
		return nil, err
	}
	trailing := strings.HasSuffix(dest, "/") || strings.HasSuffix(dest, "/.") || dest == "."
	if !path.IsAbs(dest) {
		wd := sr.st.cfg.Config.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	dest = path.Clean(dest)
	spec.dest = dest
	spec.destDir = trailing || len(spec.sources) > 1 || len(s.Heredocs) > 1
	if spec.destDir && !strings.HasSuffix(spec.dest, "/") {
		spec.dest += "/"
	}
	if len(spec.sources)+len(s.Heredocs) > 1 && !trailing {
		return nil, fmt.Errorf("when using %s with more than one source file, the destination must be a directory and end with a /", s.Kind())
	}
	if spec.checksum, err = sr.expand(s.Checksum); err != nil {
		return nil, err
	}
	if err := checkRemoteSources(spec, spec.checksum); err != nil {
		return nil, err
	}
	if s.Chown != "" {
		spec.chown, err = sr.expand(s.Chown)
		if err != nil {
			return nil, err
		}
	}
	if s.Chmod != "" {
		m, err := strconv.ParseUint(s.Chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("invalid --chmod=%s: only octal modes are supported", s.Chmod)
		}
		mode := unixMode(uint32(m))
		spec.chmod = &mode
	}
	return spec, nil
}

// selectContext resolves the sources in the build context, as BuildKit does: a source is a path in
// the context ("../x" is "x"), resolved with symlinks followed inside it (a link to /etc/x means the
// context's etc/x), may contain wildcards, and honours .dockerignore.
func (sr *stageRun) selectContext(spec *copySpec) ([]copyItem, error) {
	var items []copyItem
	for _, src := range spec.sources {
		if g, ok, err := parseGit(src); ok {
			if err != nil {
				return nil, err
			}
			if !spec.step.Add {
				return nil, fmt.Errorf("source can't be a git ref for COPY")
			}
			if k := spec.step.KeepGitDir; k != nil {
				if g.keepGitDirSet && g.keepGitDir != *k {
					return nil, errors.New("inconsistent keep-git-dir configuration")
				}
				g.keepGitDir = *k
			}
			items = append(items, copyItem{git: g, rel: src})
			continue
		}
		if isURL(src) {
			if !spec.step.Add {
				return nil, fmt.Errorf("source can't be a URL for COPY")
			}
			items = append(items, copyItem{url: src, rel: src})
			continue
		}
		found, err := selectTree(sr.bd.ctx.tree(), src)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 && rootpath.HasWildcard(src) {
			continue // a wildcard may match nothing, as in BuildKit
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%q not found: no such file or directory in the build context", src)
		}
		if len(found) > 1 && !spec.destDir {
			return nil, fmt.Errorf("when using %s with more than one source file, the destination must be a directory and end with a /", spec.step.Kind())
		}
		items = append(items, found...)
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("no source files were specified")
	}
	return items, nil
}

// selectTree resolves one COPY source in an untrusted tree (the context, or an image's rootfs for
// --from) with BuildKit's semantics: a plain path is resolved with every symlink followed inside the
// tree, its last component included (COPY link copies what link points to, named after the link);
// a wildcard's matches are found without following links and each is then followed the same way.
// Nothing found is an empty list.
func selectTree(tree rootpath.Tree, src string) ([]copyItem, error) {
	rel := path.Clean("/" + filepath.ToSlash(src))[1:]
	var names []string
	if rootpath.HasWildcard(rel) {
		matches, err := tree.Glob(rel)
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			names = append(names, m.Rel)
		}
	} else {
		names = []string{rel}
	}
	var items []copyItem
	for _, name := range names {
		e, err := tree.Resolve(name, true)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %w", src, err)
		}
		items = append(items, copyItem{host: e.Host, rel: name, real: e.Rel, info: e.Info})
	}
	return items, nil
}

// unixMode converts permission bits as written in octal (04755) to an os.FileMode.
func unixMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

// selectRootfs resolves sources inside a mounted image rootfs (COPY --from) with the same resolver
// as the context (chroot semantics).
func selectRootfs(root string, sources []string) ([]copyItem, error) {
	tree := rootpath.New(root, nil)
	var items []copyItem
	for _, src := range sources {
		found, err := selectTree(tree, src)
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%q not found", src)
		}
		items = append(items, found...)
	}
	return items, nil
}

// hashItems digests exactly what the copy will read: for every selected entry, its path relative to
// the selection, type, permission bits, size, link target and content. Context file contents come
// from the build's stat cache, so unchanged files are not read.
func (bd *build) hashItems(items []copyItem) (string, *contentDigests, error) {
	// First list every selected entry (one walk), then digest the regular files in parallel (most
	// come from the stat cache; the rest are read and hashed on every core), then fold everything
	// into the key in walk order.
	type entry struct {
		item             int
		rel, host, dpath string
		fi               fs.FileInfo
		digest, link     string
	}
	var entries []entry
	for n, it := range items {
		if it.url != "" || it.git != nil {
			continue
		}
		var walked []walkedEntry
		err := walkSelected(it, bd.ctx, func(rel, host string, fi fs.FileInfo) error {
			entries = append(entries, entry{item: n, rel: rel, host: host, dpath: path.Join(it.rel, rel), fi: fi})
			walked = append(walked, walkedEntry{rel, host, fi})
			return nil
		})
		items[n].walked = walked
		if err != nil {
			return "", nil, err
		}
	}
	if err := parallel(len(entries), func(k int) error {
		e := &entries[k]
		switch {
		case e.fi.Mode().IsRegular():
			d, err := bd.fileDigest(e.dpath, e.host, e.fi)
			e.digest = d
			return err
		case e.fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(e.host)
			e.link = t
			return err
		}
		return nil
	}); err != nil {
		return "", nil, err
	}
	h := sha256.New()
	files := make(map[string]string, len(entries))
	byHost := make(map[string]sourceFile, len(entries))
	var scratch []byte
	kb := func(s string) { // length-prefixed, like cache.KeyBuilder
		scratch = append(strconv.AppendInt(scratch[:0], int64(len(s)), 10), ':')
		h.Write(scratch)
		io.WriteString(h, s)
	}
	k := 0
	for n, it := range items {
		if it.url != "" || it.git != nil {
			kb("remote:" + it.remoteKey)
			files[it.rel] = it.remoteKey
			continue
		}
		kb("item:" + it.rel)
		for ; k < len(entries) && entries[k].item == n; k++ {
			e := entries[k]
			kb(e.rel)
			kb(e.fi.Mode().String())
			detail := e.fi.Mode().String()
			switch {
			case e.fi.Mode().IsRegular():
				kb(strconv.FormatInt(e.fi.Size(), 10))
				kb(e.digest)
				detail += " " + e.digest
				byHost[e.host] = sourceFile{path: e.dpath, digest: e.digest}
			case e.fi.Mode()&fs.ModeSymlink != 0:
				kb(e.link)
				detail += " -> " + e.link
			}
			files[e.dpath] = detail
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), &contentDigests{files: files, byHost: byHost}, nil
}

// contentComponent names the key component of a COPY's source digest.
const contentComponent = "content"

// contentDigests is what hashItems learnt about the selected sources.
type contentDigests struct {
	files  map[string]string     // source path (as in the key's detail) → "mode [sha256 | -> target]"
	byHost map[string]sourceFile // host path of each regular file → its source path and digest
}

// sourceFile is a regular file a COPY reads from the context.
type sourceFile struct {
	path   string // as in contentDigests.files
	digest string // hex sha256 of the content
}

// parallel runs fn(0..n-1) on GOMAXPROCS workers and returns the first error.
func parallel(n int, fn func(int) error) error {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	var (
		next    atomic.Int64
		errOnce sync.Once
		first   error
		wg      sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				if err := fn(k); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// walkSelected calls fn for the item and, for a directory, everything under it (lexical order, ignore
// rules applied for context items). rel is relative to the item ("" for the item itself).
func walkSelected(it copyItem, c *buildContext, fn func(rel, host string, fi fs.FileInfo) error) error {
	if !it.info.IsDir() {
		return fn("", it.host, it.info)
	}
	if it.walked != nil {
		for _, e := range it.walked {
			if err := fn(e.rel, e.host, e.fi); err != nil {
				return err
			}
		}
		return nil
	}
	entries, err := walkTree(it.host, it.info, func(rel string, isDir bool, parent patternmatcher.MatchInfo) (bool, bool, patternmatcher.MatchInfo) {
		if c == nil {
			return false, true, parent
		}
		ctxRel := path.Join(it.real, rel)
		ignored, state := c.ignoredIn(ctxRel, parent)
		if ignored && isDir && c.skippable(ctxRel) {
			return true, false, state
		}
		return false, !ignored, state
	})
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := fn(e.rel, e.host, e.fi); err != nil {
			return err
		}
	}
	return nil
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// chownNeedsNames reports whether a --chown value names a user or group (not numeric ids).
func chownNeedsNames(chown string) bool {
	if chown == "" {
		return false
	}
	u, g, _ := strings.Cut(chown, ":")
	for _, part := range []string{u, g} {
		if part == "" {
			continue
		}
		if _, err := strconv.Atoi(part); err != nil {
			return true
		}
	}
	return false
}
