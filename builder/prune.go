package builder

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// PruneOptions select what Prune removes.
type PruneOptions struct {
	// All removes every cache record, not only those whose layer no image uses, plus cache mounts and
	// the build history.
	All bool
	// KeepStorage, when > 0, removes least recently used records until the build cache takes at most
	// this many bytes.
	KeepStorage int64
	// Until, when > 0, only removes records not used for at least this long.
	Until time.Duration
	// Keep are manifests whose blobs and layer snapshots must survive even if no name or index record
	// holds them any more, in addition to those the store's Users use (store.WithUsers: the images of
	// existing containers).
	Keep []v1.Hash
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Records, Blobs, Snapshots, Mounts int
	Reclaimed                         int64
}

// Prune removes build cache. It never removes what an image in the store uses (its blobs and its
// layers' snapshots) and waits for running builds, pulls and loads to finish first (the store's GC
// lock), so it never removes what they use either.
func (b *Builder) Prune(ctx context.Context, opts PruneOptions) (*PruneReport, error) {
	unlock, err := b.store.GCLock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	p, err := b.pruneProtected(ctx, opts.Keep)
	if err != nil {
		return nil, err
	}
	entries, err := b.cache.List()
	if err != nil {
		return nil, err
	}
	blobs, blobSize, err := b.blobSizes()
	if err != nil {
		return nil, err
	}
	rep := &PruneReport{}
	keep, err := b.pruneRecords(entries, p.refs, blobSize, opts, rep)
	if err != nil {
		return nil, err
	}
	// Blobs: keep what images and the remaining records use.
	keepDiff := map[v1.Hash]bool{}
	for h := range p.diffIDs {
		keepDiff[h] = true
	}
	for _, e := range keep {
		if l := e.Record.Layer; l != nil {
			p.refs[mustHash(l.Digest)] = true
			keepDiff[mustHash(l.DiffID)] = true
		}
	}
	if err := b.pruneBlobs(blobs, p.refs, rep); err != nil {
		return nil, err
	}
	// Snapshots: keep the chains of images and, unless --all, the layers of remaining records.
	if err := b.pruneSnapshots(ctx, func(s snapshot.Info) bool {
		return p.chains[s.ChainID] || (!opts.All && keepDiff[s.DiffID])
	}, rep); err != nil {
		return nil, err
	}
	if opts.All {
		if err := b.pruneDirs(rep); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// pruneKeep is what Prune must keep whatever the cache records say: the blobs images reference,
// and their layers' diff IDs and chain IDs.
type pruneKeep struct {
	refs, diffIDs, chains map[v1.Hash]bool
}

// pruneProtected collects what the store's images, the images of its users (containers) and the
// manifests keep use.
func (b *Builder) pruneProtected(ctx context.Context, keep []v1.Hash) (*pruneKeep, error) {
	refs, err := b.store.ReferencedBlobs(ctx)
	if err != nil {
		return nil, err
	}
	diffIDs, chains, err := b.imageLayers(ctx)
	if err != nil {
		return nil, err
	}
	used, err := b.store.InUse(ctx)
	if err != nil {
		return nil, err
	}
	for _, h := range append(slices.Clip(keep), used...) {
		b.keepImage(h, refs, diffIDs, chains)
	}
	return &pruneKeep{refs: refs, diffIDs: diffIDs, chains: chains}, nil
}

// pruneRecords deletes the cache records opts selects (all of them, the dangling ones, or the least
// recently used beyond KeepStorage; never one used within Until) and returns those it kept.
func (b *Builder) pruneRecords(entries []cache.Entry, refs map[v1.Hash]bool, blobSize map[v1.Hash]int64,
	opts PruneOptions, rep *PruneReport) ([]cache.Entry, error) {
	old := func(e cache.Entry) bool { return opts.Until <= 0 || time.Since(e.LastUsed) >= opts.Until }
	keep := make([]cache.Entry, 0, len(entries))
	for _, e := range entries {
		dangling := e.Record.Layer == nil || !refs[mustHash(e.Record.Layer.Digest)]
		if old(e) && (opts.All || (dangling && opts.KeepStorage <= 0)) {
			if err := b.cache.Delete(e.Key); err != nil {
				return nil, err
			}
			rep.Records++
			continue
		}
		keep = append(keep, e)
	}
	if opts.KeepStorage <= 0 {
		return keep, nil
	}
	// Least recently used first, until the records' own layers fit.
	sort.Slice(keep, func(i, j int) bool { return keep[i].LastUsed.Before(keep[j].LastUsed) })
	total := cacheOnlySize(keep, refs, blobSize)
	for len(keep) > 0 && total > opts.KeepStorage && old(keep[0]) {
		if err := b.cache.Delete(keep[0].Key); err != nil {
			return nil, err
		}
		rep.Records++
		keep = keep[1:]
		total = cacheOnlySize(keep, refs, blobSize)
	}
	return keep, nil
}

// pruneBlobs deletes the blobs refs does not hold (with their member indexes); a remote-backed one
// reclaims nothing.
func (b *Builder) pruneBlobs(blobs []store.BlobInfo, refs map[v1.Hash]bool, rep *PruneReport) error {
	for _, bl := range blobs {
		if refs[bl.Digest] {
			continue
		}
		if err := b.store.DeleteBlob(bl.Digest); err != nil {
			return err
		}
		b.cache.DeleteMembers(bl.Digest)
		if !bl.Remote {
			rep.Blobs++
			rep.Reclaimed += bl.Size
		}
	}
	return nil
}

// pruneSnapshots removes the layer snapshots keep does not want.
func (b *Builder) pruneSnapshots(ctx context.Context, keep func(snapshot.Info) bool, rep *PruneReport) error {
	snaps, err := b.snaps.List(true)
	if err != nil {
		return err
	}
	for _, s := range snaps {
		if keep(s) {
			continue
		}
		if err := b.snaps.Remove(ctx, s.ChainID); err != nil {
			return err
		}
		rep.Snapshots++
		rep.Reclaimed += s.Size
	}
	return nil
}

// pruneDirs removes the cache mounts, the build history and the contexts' stat caches (prune --all).
func (b *Builder) pruneDirs(rep *PruneReport) error {
	for _, dir := range []string{"cachemounts", filepath.Join("cache", "history"), filepath.Join("cache", "contexts")} {
		p := filepath.Join(b.root, dir)
		n, size := dirUsage(p)
		if dir == "cachemounts" {
			rep.Mounts = n
		}
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		rep.Reclaimed += size
	}
	return nil
}

// imageLayers returns the diffIDs and chain IDs of every image in the store.
func (b *Builder) imageLayers(ctx context.Context) (map[v1.Hash]bool, map[v1.Hash]bool, error) {
	list, err := b.store.List(ctx)
	if err != nil {
		return nil, nil, err
	}
	diffs, chains := map[v1.Hash]bool{}, map[v1.Hash]bool{}
	for _, im := range list {
		ms, err := b.store.ImageManifests(im.Manifest)
		if err != nil {
			return nil, nil, err
		}
		for _, mh := range ms {
			img, err := b.store.Image(mh)
			if err != nil {
				return nil, nil, err
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				return nil, nil, fmt.Errorf("reading image %s: %w", im.ID, err)
			}
			for _, d := range cfg.RootFS.DiffIDs {
				diffs[d] = true
			}
			for _, c := range snapshot.ChainIDs(cfg.RootFS.DiffIDs) {
				chains[c] = true
			}
		}
	}
	return diffs, chains, nil
}

// cacheOnlySize is the size of the layer blobs that only cache records (not images) keep.
func cacheOnlySize(entries []cache.Entry, imageRefs map[v1.Hash]bool, blobSize map[v1.Hash]int64) int64 {
	seen := map[v1.Hash]bool{}
	var total int64
	for _, e := range entries {
		if l := e.Record.Layer; l != nil {
			d := mustHash(l.Digest)
			if !imageRefs[d] && !seen[d] {
				seen[d] = true
				total += blobSize[d]
			}
		}
	}
	return total
}

func mustHash(s string) v1.Hash {
	h, _ := v1.NewHash(s)
	return h
}

func dirUsage(dir string) (int, int64) {
	entries, _ := os.ReadDir(dir)
	var size int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return len(entries), size
}

// Usage is what `hoist system df` shows. Sizes count local bytes only: the remote-backed layers of
// images (imported lazily from a registry cache) are in ImagesRemote, their size as recorded.
type Usage struct {
	Images, ActiveImages          int
	ImagesSize, ImagesReclaimable int64
	ImagesRemote                  int64
	CacheRecords                  int
	CacheSize                     int64
}

// DiskUsage measures the store and the build cache. Active images are those with a name.
func (b *Builder) DiskUsage(ctx context.Context) (*Usage, error) {
	list, err := b.store.List(ctx)
	if err != nil {
		return nil, err
	}
	blobs, blobSize, err := b.blobSizes()
	if err != nil {
		return nil, err
	}
	u := &Usage{Images: len(list)}
	named, all := map[v1.Hash]bool{}, map[v1.Hash]bool{}
	for _, im := range list {
		ds, err := b.imageBlobs(im.Manifest)
		if err != nil {
			return nil, err
		}
		if len(im.Names) > 0 {
			u.ActiveImages++
		}
		for _, d := range ds {
			all[d] = true
			if len(im.Names) > 0 {
				named[d] = true
			}
		}
	}
	for d := range all {
		u.ImagesSize += blobSize[d]
		if !named[d] {
			u.ImagesReclaimable += blobSize[d]
		}
	}
	for _, bl := range blobs {
		if bl.Remote && all[bl.Digest] {
			u.ImagesRemote += bl.Size
		}
	}
	entries, err := b.cache.List()
	if err != nil {
		return nil, err
	}
	u.CacheRecords = len(entries)
	u.CacheSize = cacheOnlySize(entries, all, blobSize)
	snaps, err := b.snaps.List(true)
	if err != nil {
		return nil, err
	}
	for _, s := range snaps {
		u.CacheSize += s.Size
	}
	_, mounts := dirUsage(filepath.Join(b.root, "cachemounts"))
	u.CacheSize += mounts
	return u, nil
}

// blobSizes lists the store's blobs, remote-backed ones included, and indexes the sizes of the local
// ones by digest.
func (b *Builder) blobSizes() ([]store.BlobInfo, map[v1.Hash]int64, error) {
	blobs, err := b.store.Blobs()
	if err != nil {
		return nil, nil, err
	}
	sizes := make(map[v1.Hash]int64, len(blobs))
	for _, bl := range blobs {
		if !bl.Remote {
			sizes[bl.Digest] = bl.Size
		}
	}
	return blobs, sizes, nil
}

// keepImage adds an image's blobs, diffIDs and chains to the sets Prune keeps (if it is still stored).
func (b *Builder) keepImage(h v1.Hash, refs, diffs, chains map[v1.Hash]bool) {
	img, err := b.store.Image(h)
	if err != nil {
		return
	}
	m, err := img.Manifest()
	if err != nil {
		return
	}
	refs[h], refs[m.Config.Digest] = true, true
	for _, l := range m.Layers {
		refs[l.Digest] = true
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return
	}
	for _, d := range cfg.RootFS.DiffIDs {
		diffs[d] = true
	}
	for _, c := range snapshot.ChainIDs(cfg.RootFS.DiffIDs) {
		chains[c] = true
	}
}

// imageBlobs lists the blobs of a recorded image: its manifest (or index and the index's
// manifests), configs and layers.
func (b *Builder) imageBlobs(h v1.Hash) ([]v1.Hash, error) {
	ms, err := b.store.ImageManifests(h)
	if err != nil {
		return nil, err
	}
	ds := []v1.Hash{h}
	for _, mh := range ms {
		img, err := b.store.Image(mh)
		if err != nil {
			return nil, err
		}
		m, err := img.Manifest()
		if err != nil {
			return nil, err
		}
		if mh != h {
			ds = append(ds, mh)
		}
		ds = append(ds, m.Config.Digest)
		for _, l := range m.Layers {
			ds = append(ds, l.Digest)
		}
	}
	return ds, nil
}
