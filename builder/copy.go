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
	"syscall"

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
	// filter selects what is copied under a directory item (COPY --exclude, --parents); nil: all.
	filter *copyFilter
}

// copyFilter is fsutil's include/exclude selection of a copy, matched against paths relative to the
// copied directory with a parent's match applying to its contents. The item itself is never
// filtered; an entry that is not selected is not copied, but its contents still may be (the parent
// directories of a selected entry are then created with the source's metadata).
type copyFilter struct {
	include *patternmatcher.PatternMatcher // nil: everything
	exclude *patternmatcher.PatternMatcher // nil: nothing
}

func newCopyFilter(include, exclude []string) (*copyFilter, error) {
	if len(include) == 0 && len(exclude) == 0 {
		return nil, nil
	}
	f := &copyFilter{}
	var err error
	if len(include) > 0 {
		if f.include, err = patternmatcher.New(include); err != nil {
			return nil, fmt.Errorf("invalid include patterns %q: %w", include, err)
		}
	}
	if len(exclude) > 0 {
		if f.exclude, err = patternmatcher.New(exclude); err != nil {
			return nil, fmt.Errorf("invalid --exclude patterns %q: %w", exclude, err)
		}
	}
	return f, nil
}

// keep reports whether rel (relative to the copied directory, not "") is copied.
func (f *copyFilter) keep(rel string) bool {
	if f == nil {
		return true
	}
	if f.include != nil {
		if m, err := f.include.MatchesOrParentMatches(rel); err != nil || !m {
			return false
		}
	}
	if f.exclude != nil {
		if m, err := f.exclude.MatchesOrParentMatches(rel); err != nil || m {
			return false
		}
	}
	return true
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
	destArg  string // the destination as written, expanded (for the history)
	destDir  bool   // the destination is a directory (ends with "/", or several heredocs)
	uid, gid int    // -1 = keep the source's (COPY --from) or 0 (context)
	chown    string
	chmod    *os.FileMode
	fromCtx  bool
	checksum string                // ADD --checksum, expanded
	ctxFiles map[string]sourceFile // host path → the context file the copy reads (see hashItems)
}

// dispatchCopy runs a COPY or ADD: its sources are heredocs, the build context (with URLs and git
// repositories) or another stage's or image's rootfs (--from).
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
	kb := copyKey(parentKey, s, spec, sr.st.cfg.Config.User)
	createdBy := copyHistory(s, spec)
	var (
		srcRoot string
		items   []copyItem
	)
	switch {
	case len(s.Heredocs) > 0:
		if items, err = sr.heredocItems(s, kb); err != nil {
			return false, err
		}
	case s.From == "":
		spec.fromCtx = true
		srcRoot = sr.bd.ctx.dir
		if items, err = sr.contextItems(ctx, spec, kb); err != nil {
			return false, err
		}
	default:
		return sr.copyFrom(ctx, s, spec, next, kb, createdBy)
	}
	return sr.fsStep(ctx, next, kb, createdBy, func(ctx context.Context, sfs *stepFS) error {
		return sr.copyInto(ctx, sfs, srcRoot, items, spec)
	})
}

// copyKey starts the cache key of a COPY/ADD from what it says; the sources' content is added to it
// by the caller.
func copyKey(parentKey cache.Key, s *parser.CopyStep, spec *copySpec, user string) *cache.KeyBuilder {
	kb := cache.NewKey(parentKey, string(s.Kind())).Strings("sources", spec.sources).String("dest", spec.dest).
		String("chown", spec.chown).String("chmod", fmt.Sprint(s.Chmod)).Bool("link", s.Link).
		String("checksum", s.Checksum).Strings("excludes", s.Excludes).String("user", user)
	if s.Parents {
		kb.Bool("parents", true)
	}
	return kb
}

// heredocItems are the step's heredocs (expanded where they ask), each keyed by its content.
func (sr *stageRun) heredocItems(s *parser.CopyStep, kb *cache.KeyBuilder) ([]copyItem, error) {
	var items []copyItem
	for _, h := range s.Heredocs {
		data := h.Data
		if h.Expand {
			var err error
			if data, err = sr.expand(data); err != nil {
				return nil, err
			}
		}
		d := data
		items = append(items, copyItem{rel: h.Name, data: &d})
		kb.String("heredoc:"+h.Name, data)
	}
	return items, nil
}

// contextItems selects the step's sources in the build context (URLs and git sources resolved for
// their keys) and keys the step by their content.
func (sr *stageRun) contextItems(ctx context.Context, spec *copySpec, kb *cache.KeyBuilder) ([]copyItem, error) {
	items, err := sr.selectContext(spec)
	if err != nil {
		return nil, err
	}
	if err := sr.keyRemotes(ctx, items, spec.checksum); err != nil {
		return nil, err
	}
	digest, cd, err := sr.bd.hashItems(items)
	if err != nil {
		return nil, err
	}
	kb.String(contentComponent, digest).Files(cd.files)
	spec.ctxFiles = cd.byHost
	return items, nil
}

// copyFrom runs a COPY --from: keyed by the source stage's (or image's) key, its rootfs mounted only
// if the step must run.
func (sr *stageRun) copyFrom(ctx context.Context, s *parser.CopyStep, spec *copySpec, next *imageState,
	kb *cache.KeyBuilder, createdBy string) (bool, error) {
	src, err := sr.sourceState(ctx, s.From)
	if err != nil {
		return false, err
	}
	kb.String("from", string(src.key))
	return sr.fsStep(ctx, next, kb, createdBy, func(ctx context.Context, sfs *stepFS) error {
		root, done, err := sr.bd.b.mountReadOnly(ctx, sr.bd.scratch, src.layers)
		if err != nil {
			return err
		}
		defer done()
		items, err := selectRootfs(root, spec.sources, s)
		if err != nil {
			return err
		}
		return sr.copyInto(ctx, sfs, root, items, spec)
	})
}

// copyHistory is the history entry of a COPY/ADD as BuildKit writes it: the flags that change the
// result's metadata, the sources and the destination as written (expanded), heredocs as <<NAME.
func copyHistory(s *parser.CopyStep, spec *copySpec) string {
	var b strings.Builder
	b.WriteString(string(s.Kind()))
	if s.Parents {
		b.WriteString(" --parents")
	}
	if spec.chown != "" {
		b.WriteString(" --chown=" + spec.chown)
	}
	if s.Chmod != "" {
		b.WriteString(" --chmod=" + s.Chmod)
	}
	for _, src := range spec.sources {
		b.WriteString(" " + src)
	}
	for _, h := range s.Heredocs {
		b.WriteString(" <<" + h.Name)
	}
	b.WriteString(" " + spec.destArg)
	return b.String()
}

// sourceState is the image state named by COPY --from: a stage, or an image.
func (sr *stageRun) sourceState(ctx context.Context, from string) (*imageState, error) {
	if i, ok := sr.bd.plan.StageByName(from, len(sr.bd.plan.Stages)); ok {
		return sr.bd.wait(ctx, i)
	}
	return sr.bd.imageState(ctx, from, sr.st.platform)
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
	spec.destArg = dest
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
	// As BuildKit, several sources (or wildcard matches) to a destination without a trailing slash
	// are each copied to it in turn, as a single source would be: into it if it is a directory by
	// then, else onto it (the last file wins).
	spec.destDir = trailing || len(s.Heredocs) > 1
	if spec.destDir && !strings.HasSuffix(spec.dest, "/") {
		spec.dest += "/"
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
		if spec.step.Parents {
			it, err := selectParents(sr.bd.ctx.tree(), src, spec.step.Excludes)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
			continue
		}
		found, err := selectTree(sr.bd.ctx.tree(), src)
		if err != nil {
			return nil, err
		}
		if err := withExcludes(found, spec.step.Excludes); err != nil {
			return nil, err
		}
		if len(found) == 0 && rootpath.HasWildcard(src) {
			continue // a wildcard may match nothing, as in BuildKit
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%q not found: no such file or directory in the build context", src)
		}
		items = append(items, found...)
	}
	// Wildcards that all matched nothing copy nothing, and the step still succeeds (BuildKit).
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

// withExcludes gives every item the --exclude patterns (matched below a directory item, as fsutil).
func withExcludes(items []copyItem, excludes []string) error {
	f, err := newCopyFilter(nil, excludes)
	if err != nil {
		return err
	}
	for i := range items {
		items[i].filter = f
	}
	return nil
}

// selectParents resolves a COPY --parents source as BuildKit does: "pivot/./pattern" copies what
// pattern selects under pivot, keeping its path below pivot; without "/./" the pivot is the root
// and the whole path is kept. The item is the pivot directory with pattern as its include filter;
// a pattern without wildcards must exist.
func selectParents(tree rootpath.Tree, src string, excludes []string) (copyItem, error) {
	pivot, pattern, ok := strings.Cut(src, "/./")
	if !ok {
		pivot, pattern = "/", src
	}
	pattern = strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(pattern)), "/")
	pivotRel := strings.TrimPrefix(path.Clean("/"+filepath.ToSlash(pivot)), "/")
	e, err := tree.Resolve(pivotRel, true)
	if errors.Is(err, fs.ErrNotExist) {
		return copyItem{}, fmt.Errorf("%q not found", src)
	}
	if err != nil {
		return copyItem{}, fmt.Errorf("%q: %w", src, err)
	}
	if !e.Info.IsDir() {
		return copyItem{}, fmt.Errorf("%q: %s is not a directory", src, pivot)
	}
	if pattern != "" && !rootpath.HasWildcard(pivotRel) && !rootpath.HasWildcard(pattern) {
		if _, err := tree.Resolve(path.Join(pivotRel, pattern), false); err != nil {
			return copyItem{}, fmt.Errorf("%q not found: %w", path.Join(pivotRel, pattern), err)
		}
	}
	var include []string
	if pattern != "" {
		include = []string{pattern}
	}
	f, err := newCopyFilter(include, excludes)
	if err != nil {
		return copyItem{}, err
	}
	return copyItem{host: e.Host, rel: pivotRel, real: e.Rel, info: e.Info, filter: f}, nil
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
func selectRootfs(root string, sources []string, step *parser.CopyStep) ([]copyItem, error) {
	tree := rootpath.New(root, nil)
	var items []copyItem
	for _, src := range sources {
		if step.Parents {
			it, err := selectParents(tree, src, step.Excludes)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
			continue
		}
		found, err := selectTree(tree, src)
		if err != nil {
			return nil, err
		}
		if err := withExcludes(found, step.Excludes); err != nil {
			return nil, err
		}
		if len(found) == 0 && !rootpath.HasWildcard(src) {
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
			if bd.ctx.keepOwners {
				// The copy keeps the archive's owners: they are part of what it makes.
				owner := ownerOf(e.fi)
				kb(owner)
				detail += " " + owner
			}
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
	if it.filter != nil {
		all := fn
		fn = func(rel, host string, fi fs.FileInfo) error {
			if rel != "" && !it.filter.keep(rel) {
				return nil
			}
			return all(rel, host, fi)
		}
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

// ownerOf is fi's "uid:gid".
func ownerOf(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return strconv.FormatUint(uint64(st.Uid), 10) + ":" + strconv.FormatUint(uint64(st.Gid), 10)
	}
	return "?"
}
