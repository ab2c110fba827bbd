package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// fsStep runs fn on a writable overlay mount of the stage's current rootfs, unless key is in the cache;
// the change fn made becomes a layer appended to next, which becomes the stage's state.
func (sr *stageRun) fsStep(ctx context.Context, next *imageState, kb *cache.KeyBuilder, createdBy string,
	fn func(ctx context.Context, sfs *stepFS) error) (cached bool, err error) {
	if sr.linked {
		// COPY --link: the layer is made on an empty rootfs and keyed without the parent, so it is
		// reused whatever happened below it; the stage's key still follows both.
		parent := sr.st.key
		defer func() { next.key = cache.NewKey(parent, "LINK").String("layer", string(next.key)).Sum() }()
	}
	b := sr.bd.b
	key := kb.Sum()
	step := cache.StepRecord{ID: sr.stepID, Source: sr.stepSource, Key: key, Parent: kb.Parent(),
		Components: kb.Components(), Files: kb.FileDetail()}
	sr.bd.recordStep(step)
	sr.step = &step
	if g := sr.bd.group; g != nil && !sr.bd.opts.Explain {
		// Another target of this build may run the identical step: run it once.
		call, lead := g.join(key)
		if lead {
			defer func() { g.finish(key, call, err == nil) }()
		} else if ok, err := call.wait(ctx); err != nil {
			return false, err
		} else if ok {
			if hit, err := sr.fromLocal(ctx, next, key, createdBy); hit || err != nil {
				return hit && err == nil, err
			}
		}
	}
	noCache := sr.bd.noCacheFor(sr.stage)
	if !noCache {
		if hit, err := sr.fromCache(ctx, next, key, createdBy); hit || err != nil {
			return hit && err == nil, err
		}
	}
	reason := sr.bd.explainMiss(step, sr.argNames(), noCache)
	if sr.bd.opts.Explain {
		sr.bd.progress.printf("%s: would run: %s\n", sr.label(sr.stepN), reason)
		if err := sr.apply(ctx, next, key, createdBy, nil, time.Time{}); err != nil {
			return false, err
		}
		next.key = cache.NewKey(key, "RESULT").String("diffid", "unknown until it runs").Sum()
		sr.st = next
		return false, nil
	}
	sr.bd.progress.printf("%s: cache miss: %s\n", sr.label(sr.stepN), reason)
	lowers := sr.st.layers
	if sr.linked {
		lowers = nil
	}
	prevBlob, closePrev := sr.previousMembers()
	defer closePrev()
	layer, reused, err := b.runOnRootfs(ctx, sr.bd.scratch, lowers, next.docker, sr.bd.opts.SourceDateEpoch, prevBlob, fn)
	if err != nil {
		return false, err
	}
	if reused.copied > 1 { // the end-of-archive part alone is always the same
		sr.bd.progress.printf("%s: %d of the layer's %d compressed parts copied from the previous build\n",
			sr.label(sr.stepN), reused.copied, reused.of)
	}
	now := time.Now().UTC().Truncate(time.Second)
	rec := cache.Record{Layer: layer, Created: now, Step: createdBy}
	if err := b.cache.Put(key, rec); err != nil {
		return false, err
	}
	sr.bd.recordExport(key, rec, sr.stage.Index)
	if err := sr.apply(ctx, next, key, createdBy, layer, now); err != nil {
		return false, err
	}
	return false, nil
}

// fromCache moves the stage to next with the result cached for key, in the local cache or in a
// --cache-from source (imported), and reports whether there was one. With --explain a remote record
// is used without importing it.
func (sr *stageRun) fromCache(ctx context.Context, next *imageState, key cache.Key, createdBy string) (bool, error) {
	if hit, err := sr.fromLocal(ctx, next, key, createdBy); hit || err != nil {
		return hit, err
	}
	if sr.bd.opts.Explain {
		r, ok := sr.bd.remote[key]
		if !ok {
			return false, nil
		}
		return true, sr.apply(ctx, next, key, createdBy, r.rec.Layer, r.rec.Created)
	}
	rec, source, err := sr.bd.fromRemote(ctx, key)
	if err != nil || rec == nil {
		return false, err
	}
	sr.bd.progress.printf("%s: imported from cache %s\n", sr.label(sr.stepN), source)
	sr.bd.recordExport(key, *rec, sr.stage.Index)
	return true, sr.apply(ctx, next, key, createdBy, rec.Layer, rec.Created)
}

// fromLocal moves the stage to next with the result the local cache holds for key, if it has one.
func (sr *stageRun) fromLocal(ctx context.Context, next *imageState, key cache.Key, createdBy string) (bool, error) {
	b := sr.bd.b
	rec, err := b.cache.Get(key)
	if err != nil || !b.recordUsable(rec) {
		return false, nil
	}
	b.cache.Touch(key)
	sr.bd.recordExport(key, rec, sr.stage.Index)
	return true, sr.apply(ctx, next, key, createdBy, rec.Layer, rec.Created)
}

func (b *Builder) recordUsable(rec cache.Record) bool {
	if rec.Layer == nil {
		return true
	}
	h, err := v1.NewHash(rec.Layer.Digest)
	return err == nil && b.store.Available(h)
}

// apply moves the stage to next with the step's result. created is when the result was first made
// (from the cache record), so a fully cached rebuild produces the identical image.
//
// The state's key becomes the step's result key: the step key combined with the diffID of the layer
// it produced. Later steps (and COPY --from this stage) are keyed on what the step produced, so a step
// forced to run again (--no-cache-filter) that produces the same content keeps them cached, and one
// that produces different content invalidates them.
//
// A step that changed nothing (l == nil) still gets a layer, an empty tar, as BuildKit gives every
// RUN, COPY, ADD and WORKDIR one: the history and the number of layers match its images.
func (sr *stageRun) apply(ctx context.Context, next *imageState, key cache.Key, createdBy string, l *cache.Layer, created time.Time) error {
	diffID := "empty"
	if l != nil {
		diffID = l.DiffID
	}
	next.key = cache.NewKey(key, "RESULT").String("diffid", diffID).Sum()
	next.created = created
	if l == nil && !sr.bd.opts.Explain {
		var err error
		if l, err = sr.bd.b.emptyLayer(ctx, next.docker); err != nil {
			return err
		}
	}
	if !sr.noBuildkitSuffix {
		createdBy += " # buildkit" // BuildKit marks the entries of steps that ran in LLB (all but WORKDIR)
	}
	next.history = append(next.history, v1.History{Created: v1.Time{Time: created}, CreatedBy: createdBy,
		Comment: "buildkit.dockerfile.v0", EmptyLayer: l == nil})
	if l != nil {
		layer, err := layerOf(sr.bd.b.store, l)
		if err != nil {
			return err
		}
		next.layers = append(next.layers, layer)
		// build --push: upload while the build goes on. A remote-backed layer (from --cache-from) is
		// left to the final push, which mounts it instead of fetching and uploading it.
		if d, err := v1.NewHash(l.Digest); err == nil && sr.bd.uploader != nil && sr.stage.Index == sr.bd.targetStage && sr.bd.b.store.HasBlob(d) {
			sr.bd.uploader.Add(layer)
		}
	}
	sr.st = next
	return nil
}

// emptyLayer returns the layer blob of an empty tar (with Docker or OCI media types), writing it into
// the store unless it is there.
func (b *Builder) emptyLayer(ctx context.Context, docker bool) (*cache.Layer, error) {
	b.emptyMu.Lock()
	defer b.emptyMu.Unlock()
	if l := b.empty[docker]; l != nil && b.store.Available(mustHash(l.Digest)) {
		return l, nil
	}
	var buf bytes.Buffer
	mc, err := snapshot.NewMemberCompressor(ctx, &buf, snapshot.CompressOptions{DockerMediaTypes: docker}, nil)
	if err != nil {
		return nil, err
	}
	terr := tar.NewWriter(mc).Close()
	c, err := mc.Close()
	if err == nil {
		err = terr
	}
	if err == nil && !b.store.Available(c.Digest) {
		_, _, err = b.store.WriteBlob(ctx, &buf, c.Digest)
	}
	if err != nil {
		return nil, fmt.Errorf("writing the empty layer: %w", err)
	}
	l := &cache.Layer{Digest: c.Digest.String(), DiffID: c.DiffID.String(), Size: c.Size, MediaType: string(c.MediaType)}
	if b.empty == nil {
		b.empty = map[bool]*cache.Layer{}
	}
	b.empty[docker] = l
	return l, nil
}

// stepFS is the filesystem a step changes.
type stepFS struct {
	root string // the stage's rootfs, writable (an overlay mount, or a copy without overlayfs)
	// upper is the overlay upper dir behind root, "" when the step runs on a copy. It must not be
	// written while root is mounted (overlayfs leaves that undefined); a step that wants to (COPY
	// hardlinking unchanged files, see layerReuse) sets finish, which runs once root is unmounted
	// and before the upper dir is committed.
	upper  string
	finish func() error
}

// runOnRootfs mounts layers (base first) with a fresh upper dir, calls fn on the mount, unmounts, and
// commits the upper dir as a layer (nil when fn changed nothing).
func (b *Builder) runOnRootfs(ctx context.Context, sc *scratchDir, layers []v1.Layer, docker bool,
	epoch *time.Time, prev *snapshot.MemberSource, fn func(ctx context.Context, sfs *stepFS) error) (*cache.Layer, memberReuse, error) {
	lowers, err := b.snaps.Ensure(ctx, layers)
	if err != nil {
		return nil, memberReuse{}, err
	}
	dir, err := sc.stepDir()
	if err != nil {
		return nil, memberReuse{}, err
	}
	defer os.RemoveAll(dir)
	overlay, err := b.useOverlay()
	if err != nil {
		return nil, memberReuse{}, err
	}
	if !overlay {
		return b.runOnCopy(ctx, dir, lowers, docker, epoch, prev, fn)
	}
	upper, work, merged := filepath.Join(dir, "upper"), filepath.Join(dir, "work"), filepath.Join(dir, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, memberReuse{}, err
		}
	}
	if err := b.snaps.MountOverlay(lowers, upper, work, merged); err != nil {
		return nil, memberReuse{}, err
	}
	sfs := &stepFS{root: merged, upper: upper}
	ferr := fn(ctx, sfs)
	if err := snapshot.Unmount(merged); err != nil && ferr == nil {
		ferr = err
	}
	if ferr == nil {
		ferr = b.snaps.NormalizeUpper(upper, lowers)
	}
	if ferr == nil && sfs.finish != nil {
		ferr = sfs.finish()
	}
	if ferr != nil {
		return nil, memberReuse{}, ferr
	}
	l, reused, err := b.commitUpper(ctx, upper, lowers, docker, epoch, prev)
	if err != nil || l == nil {
		return l, memberReuse{}, err
	}
	// The upper dir is already in lower-dir format: keep it as the new layer's snapshot instead of
	// unpacking the blob again when a later step needs this rootfs.
	if err := b.adoptUpper(ctx, upper, layers, l); err != nil {
		return nil, memberReuse{}, err
	}
	return l, reused, nil
}

func (b *Builder) adoptUpper(ctx context.Context, upper string, parents []v1.Layer, l *cache.Layer) error {
	diffIDs := make([]v1.Hash, 0, len(parents)+1)
	for _, p := range parents {
		d, err := p.DiffID()
		if err != nil {
			return err
		}
		diffIDs = append(diffIDs, d)
	}
	newDiff, err := v1.NewHash(l.DiffID)
	if err != nil {
		return err
	}
	chain := snapshot.ChainIDs(append(diffIDs, newDiff))
	var parent v1.Hash
	if len(chain) > 1 {
		parent = chain[len(chain)-2]
	}
	return b.snaps.Adopt(ctx, upper, chain[len(chain)-1], newDiff, parent)
}

// runOnCopy is runOnRootfs without overlayfs: the rootfs is a full copy of the lowers, and the layer is
// what differs between the copy and the lowers after fn ran.
func (b *Builder) runOnCopy(ctx context.Context, dir string, lowers []string, docker bool, epoch *time.Time,
	prev *snapshot.MemberSource, fn func(ctx context.Context, sfs *stepFS) error) (*cache.Layer, memberReuse, error) {
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, memberReuse{}, err
	}
	if err := snapshot.Flatten(ctx, lowers, rootfs); err != nil {
		return nil, memberReuse{}, fmt.Errorf("copying the rootfs: %w", err)
	}
	if err := fn(ctx, &stepFS{root: rootfs}); err != nil { // no upper dir: nothing sets finish
		return nil, memberReuse{}, err
	}
	return b.commitTar(ctx, docker, prev, snapshot.DiffOptions{SourceDateEpoch: epoch},
		func(w io.Writer, o snapshot.DiffOptions) error {
			return snapshot.WriteDiffCompare(ctx, lowers, rootfs, w, o)
		})
}

// useOverlay reports whether steps run on overlay mounts, the kernel's or fuse-overlayfs's (else on
// copies); the error is a storage driver that was asked for and cannot work here.
func (b *Builder) useOverlay() (bool, error) {
	if b.cachedOnly {
		// Before the driver's probe, which mounts.
		return false, ErrNotCachedOnly
	}
	if b.noOverlay {
		return false, nil
	}
	st, err := b.snaps.Driver()
	return st.Driver != snapshot.DriverCopy, err
}

// commitUpper turns an overlay upper dir into a compressed layer blob in the store.
func (b *Builder) commitUpper(ctx context.Context, upper string, lowers []string, docker bool, epoch *time.Time,
	prev *snapshot.MemberSource) (*cache.Layer, memberReuse, error) {
	entries, err := os.ReadDir(upper)
	if err != nil {
		return nil, memberReuse{}, err
	}
	if len(entries) == 0 {
		return nil, memberReuse{}, nil
	}
	return b.commitTar(ctx, docker, prev, snapshot.DiffOptions{SourceDateEpoch: epoch, Lowers: lowers},
		func(w io.Writer, o snapshot.DiffOptions) error { return snapshot.WriteDiff(ctx, upper, w, o) })
}

// memberReuse is how many of a new layer blob's gzip members were copied from the previous blob.
type memberReuse struct{ copied, of int }

// commitTar writes the layer tar that diff produces (with the options it is given) into a compressed
// blob in the store: a gzip member per tar entry (snapshot.MemberCompressor), compressed in parallel,
// with the members of prev (this step's earlier blob, or nil) copied where the bytes are the same.
// It returns the layer (nil when the tar is empty: the step changed nothing) and how many members it
// copied. The member index is kept for the next commit.
func (b *Builder) commitTar(ctx context.Context, docker bool, prev *snapshot.MemberSource, opts snapshot.DiffOptions,
	diff func(w io.Writer, opts snapshot.DiffOptions) error) (*cache.Layer, memberReuse, error) {
	bw, err := b.store.NewBlobWriter()
	if err != nil {
		return nil, memberReuse{}, err
	}
	defer bw.Abort()
	mc, err := snapshot.NewMemberCompressor(ctx, bw, snapshot.CompressOptions{DockerMediaTypes: docker}, prev)
	if err != nil {
		return nil, memberReuse{}, err
	}
	derr := diff(mc, mc.Options(opts))
	c, err := mc.Close()
	if derr != nil {
		return nil, memberReuse{}, fmt.Errorf("committing layer: %w", derr)
	}
	if err != nil {
		return nil, memberReuse{}, fmt.Errorf("committing layer: %w", err)
	}
	if c.DiffID == emptyTarDiffID {
		return nil, memberReuse{}, nil // the step changed nothing
	}
	if _, _, err := bw.Commit(c.Digest); err != nil {
		return nil, memberReuse{}, fmt.Errorf("committing layer: %w", err)
	}
	var idx bytes.Buffer
	if err := snapshot.WriteMembers(&idx, mc.Members()); err == nil {
		_ = b.cache.PutMembers(c.Digest, idx.Bytes()) // best effort: without it the next commit compresses everything
	}
	return &cache.Layer{Digest: c.Digest.String(), DiffID: c.DiffID.String(), Size: c.Size, MediaType: string(c.MediaType)},
		memberReuse{copied: mc.Reused(), of: len(mc.Members())}, nil
}

// previousMembers offers the blob this step produced in the nearest earlier build of the same
// Dockerfile to the commit of this one (nil when there is none, or no index for it); the returned
// function releases it.
func (sr *stageRun) previousMembers() (*snapshot.MemberSource, func()) {
	none := func() {}
	b := sr.bd.b
	_, layer := sr.previousLayer()
	if layer == nil {
		return nil, none
	}
	d, err := v1.NewHash(layer.Digest)
	if err != nil {
		return nil, none
	}
	raw, err := b.cache.Members(d)
	if err != nil {
		return nil, none
	}
	index, err := snapshot.ReadMembers(bytes.NewReader(raw))
	if err != nil {
		return nil, none
	}
	f, err := os.Open(b.store.BlobPath(d))
	if err != nil {
		return nil, none
	}
	return snapshot.NewMemberSource(f, index), func() { f.Close() }
}

// emptyTarDiffID is the diffID of a tar with no entries (just archive/tar's two-block trailer): a step
// whose layer would be that changed nothing.
var emptyTarDiffID = func() v1.Hash {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.Close()
	h, _, _ := v1.SHA256(&buf)
	return h
}()

// layerOf is the layer a cache record names: its blob in the store (store.Layer).
func layerOf(s *store.Store, l *cache.Layer) (v1.Layer, error) {
	d, err := v1.NewHash(l.Digest)
	if err != nil {
		return nil, fmt.Errorf("cached layer: %w", err)
	}
	diffID, err := v1.NewHash(l.DiffID)
	if err != nil {
		return nil, fmt.Errorf("cached layer %s: diff ID: %w", l.Digest, err)
	}
	return s.Layer(v1.Descriptor{MediaType: types.MediaType(l.MediaType), Size: l.Size, Digest: d}, diffID)
}

// scratchDir is a build's private directory under root/builds, held with a flock so that a concurrent
// hoist can tell a live build's directory from one left by a killed process.
type scratchDir struct {
	path string
	lock *os.File
	n    atomic.Int64
}

// newScratch creates builds/<random> for one build. The lock file comes first and is held before the
// directory exists, so a concurrent cleanStaleBuilds can never take a live build's directory for a
// dead one's.
func newScratch(builds string) (*scratchDir, error) {
	for attempt := 0; attempt < 8; attempt++ {
		var rnd [8]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, err
		}
		p := filepath.Join(builds, hex.EncodeToString(rnd[:]))
		f, err := os.OpenFile(p+".lock", os.O_CREATE|os.O_EXCL|os.O_RDWR|unix.O_CLOEXEC, 0o600)
		if err != nil {
			if os.IsExist(err) {
				continue
			}
			return nil, fmt.Errorf("creating build lock: %w", err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking build dir: %w", err)
		}
		// A cleaner may have taken the file for a dead build's between our create and our lock, and
		// removed it: then our lock guards nothing, start again.
		var fst, pst unix.Stat_t
		if unix.Fstat(int(f.Fd()), &fst) != nil || unix.Stat(p+".lock", &pst) != nil || fst.Ino != pst.Ino {
			f.Close()
			continue
		}
		if err := os.Mkdir(p, 0o700); err != nil {
			os.Remove(p + ".lock")
			f.Close()
			return nil, fmt.Errorf("creating build dir: %w", err)
		}
		return &scratchDir{path: p, lock: f}, nil
	}
	return nil, errors.New("creating build dir: too many collisions")
}

func (s *scratchDir) stepDir() (string, error) {
	p := filepath.Join(s.path, strconv.FormatInt(s.n.Add(1), 10))
	return p, os.Mkdir(p, 0o700)
}

func (s *scratchDir) remove() {
	removeTree(s.path)
	os.Remove(s.path + ".lock")
	s.lock.Close()
}

// cleanStaleBuilds removes build dirs whose lock no live process holds (left by a killed hoist).
func cleanStaleBuilds(builds string) {
	entries, err := os.ReadDir(builds)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".lock") {
			continue
		}
		lockPath := filepath.Join(builds, e.Name())
		f, err := os.OpenFile(lockPath, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			removeTree(strings.TrimSuffix(lockPath, ".lock"))
			os.Remove(lockPath)
		}
		f.Close()
	}
	// Dirs without a lock file (killed between Mkdir and lock creation).
	for _, e := range entries {
		if e.IsDir() {
			if _, err := os.Stat(filepath.Join(builds, e.Name()+".lock")); os.IsNotExist(err) {
				removeTree(filepath.Join(builds, e.Name()))
			}
		}
	}
}

// removeTree unmounts anything still mounted under dir (a killed build in the host mount namespace) and
// removes it.
func removeTree(dir string) {
	if mounts, err := mountsUnder(dir); err == nil {
		for i := len(mounts) - 1; i >= 0; i-- {
			_ = unix.Unmount(mounts[i], unix.MNT_DETACH)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		// Read-only or immutable leftovers: make them writable and retry once.
		_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && info.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
		_ = os.RemoveAll(dir)
	}
}

func mountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	sort.Strings(out)
	return out, nil
}

// argNames are the build args the stage has declared (for explanations).
func (sr *stageRun) argNames() map[string]bool {
	m := map[string]bool{}
	for _, a := range sr.args {
		k, _, _ := strings.Cut(a, "=")
		m[k] = true
	}
	return m
}
