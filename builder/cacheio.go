package builder

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/internal/atomicfile"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// CacheSource is a --cache-from: type "registry" (Ref) or "local" (Dir, an OCI layout).
type CacheSource struct {
	Type string
	Ref  string
	Dir  string
}

// CacheTarget is a --cache-to: type "registry" (Ref) or "local" (Dir). Mode "min" (default) exports the
// steps of the final image's stages; "max" every step of every stage built. CacheMounts also exports
// the contents of the RUN --mount=type=cache directories the build used.
type CacheTarget struct {
	Type        string
	Ref         string
	Dir         string
	Mode        string
	CacheMounts bool
}

func (s CacheSource) String() string {
	if s.Type == "local" {
		return "local:" + s.Dir
	}
	return s.Ref
}

// remoteRecord is a step result offered by a --cache-from source.
type remoteRecord struct {
	rec    cache.Record
	img    v1.Image // where its layer blob is
	source string
	// blobs is the registry repository img's blobs come from; nil for a local cache.
	blobs *store.RemoteSource
}

// exported is a step result of this build, kept for --cache-to.
type exported struct {
	key   cache.Key
	rec   cache.Record
	stage int
}

// openCacheImage reads the cache image of a source and, for a registry, where its blobs come from.
func openCacheImage(ctx context.Context, src CacheSource, reg push.Options) (v1.Image, *store.RemoteSource, error) {
	switch src.Type {
	case "registry", "":
		ref, err := store.ParseName(src.Ref)
		if err != nil {
			return nil, nil, fmt.Errorf("cache ref %q: %w", src.Ref, err)
		}
		img, from, err := push.Fetch(ctx, ref, reg)
		if err != nil {
			return nil, nil, err
		}
		blobs := reg.BlobSource(from.Context())
		return img, &blobs, nil
	case "local":
		ii, err := layout.ImageIndexFromPath(src.Dir)
		if err != nil {
			return nil, nil, fmt.Errorf("reading cache dir %s: %w", src.Dir, err)
		}
		im, err := ii.IndexManifest()
		if err != nil {
			return nil, nil, err
		}
		if len(im.Manifests) == 0 {
			return nil, nil, fmt.Errorf("cache dir %s holds no cache", src.Dir)
		}
		img, err := ii.Image(im.Manifests[len(im.Manifests)-1].Digest)
		return img, nil, err
	}
	return nil, nil, fmt.Errorf("unknown cache type %q", src.Type)
}

// loadCacheSources reads every --cache-from index. An unreachable or missing cache is a warning, as in
// BuildKit: the build just runs without it. Exported cache mounts are restored when this root has no
// such mount yet.
func (bd *build) loadCacheSources(ctx context.Context) {
	bd.remote = map[cache.Key]remoteRecord{}
	for _, src := range bd.opts.CacheFrom {
		img, blobs, err := openCacheImage(ctx, src, bd.opts.Registry)
		var idx *cache.Index
		if err == nil {
			idx, err = cache.ReadIndex(img)
		}
		if err != nil {
			bd.progress.printf("[warning] --cache-from %s: %v\n", src, err)
			continue
		}
		for _, r := range idx.Records {
			if _, ok := bd.remote[r.Key]; !ok {
				bd.remote[r.Key] = remoteRecord{rec: r.Record, img: img, source: src.String(), blobs: blobs}
			}
		}
		for _, m := range idx.Mounts {
			if err := bd.restoreMount(ctx, img, m); err != nil {
				bd.progress.printf("[warning] --cache-from %s: cache mount %s: %v\n", src, m.ID, err)
			}
		}
		bd.progress.printf("importing cache from %s: %d step results, %d cache mounts\n", src, len(idx.Records), len(idx.Mounts))
	}
}

// fromRemote serves key from a --cache-from source and enters the record into the local cache. The
// layer of a registry cache is not downloaded: the store records it as remote-backed and fetches it
// the first time something reads it (BuildKit's lazy cache import), so a build whose steps all hit
// downloads no layers. The layer of a local cache is copied into the store.
func (bd *build) fromRemote(ctx context.Context, key cache.Key) (*cache.Record, string, error) {
	rr, ok := bd.remote[key]
	if !ok {
		return nil, "", nil
	}
	if l := rr.rec.Layer; l != nil {
		if err := bd.importLayer(ctx, rr, l); err != nil {
			return nil, "", fmt.Errorf("importing cached layer from %s: %w", rr.source, err)
		}
	}
	if err := bd.b.cache.Put(key, rr.rec); err != nil {
		return nil, "", err
	}
	rec := rr.rec
	return &rec, rr.source, nil
}

// importLayer makes the layer l of rr's cache image available in the store: remote-backed for a
// registry cache, copied (verified against its digest and size) for a local one.
func (bd *build) importLayer(ctx context.Context, rr remoteRecord, l *cache.Layer) error {
	d, err := v1.NewHash(l.Digest)
	if err != nil {
		return err
	}
	desc := v1.Descriptor{Digest: d, Size: l.Size, MediaType: types.MediaType(l.MediaType)}
	if rr.blobs != nil {
		return bd.b.store.AddRemote(desc, *rr.blobs)
	}
	return bd.b.store.WriteLayer(ctx, rr.img, desc)
}

// restoreMount extracts an exported cache mount into root/cachemounts/<id> unless it exists.
func (bd *build) restoreMount(ctx context.Context, img v1.Image, m cache.MountArchive) error {
	dir := filepath.Join(bd.b.root, "cachemounts", m.ID)
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	d, err := v1.NewHash(m.Digest)
	if err != nil {
		return err
	}
	l, err := img.LayerByDigest(d)
	if err != nil {
		return err
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := snapshot.ApplyTar(ctx, rc, tmp); err != nil {
		return err
	}
	return atomicfile.Rename(tmp, dir)
}

// exportCaches writes every --cache-to.
func (bd *build) exportCaches(ctx context.Context, target int) error {
	for _, dst := range bd.opts.CacheTo {
		idx := &cache.Index{}
		keep := bd.exportStages(target, dst.Mode)
		seen := map[cache.Key]bool{}
		for _, e := range bd.exports {
			if keep[e.stage] && !seen[e.key] {
				seen[e.key] = true
				idx.Records = append(idx.Records, cache.IndexRecord{Key: e.key, Record: e.rec})
			}
		}
		if dst.CacheMounts {
			mounts, err := bd.archiveMounts(ctx)
			if err != nil {
				return err
			}
			idx.Mounts = mounts
		}
		img, err := cache.NewImage(idx, bd.b.store.OpenBlob)
		if err != nil {
			return err
		}
		switch dst.Type {
		case "registry", "":
			ref, err := store.ParseName(dst.Ref)
			if err != nil {
				return fmt.Errorf("--cache-to ref %q: %w", dst.Ref, err)
			}
			if _, err := push.Write(ctx, img, ref, bd.opts.Registry); err != nil {
				return fmt.Errorf("--cache-to: %w", err)
			}
		case "local":
			p, err := layout.Write(dst.Dir, empty.Index)
			if err != nil {
				return fmt.Errorf("--cache-to %s: %w", dst.Dir, err)
			}
			if err := p.AppendImage(img); err != nil {
				return fmt.Errorf("--cache-to %s: %w", dst.Dir, err)
			}
		default:
			return fmt.Errorf("--cache-to: unknown type %q", dst.Type)
		}
		bd.progress.printf("exported cache to %s: %d step results, %d cache mounts\n", dst.Ref+dst.Dir, len(idx.Records), len(idx.Mounts))
	}
	return nil
}

// exportStages is the set of stages whose steps a cache export holds: for mode=max every stage built;
// for min the target and the stages it is based on (FROM <stage>).
func (bd *build) exportStages(target int, mode string) map[int]bool {
	keep := map[int]bool{}
	if mode == "max" {
		for _, i := range bd.order {
			keep[i] = true
		}
		return keep
	}
	for i := target; i >= 0; i = bd.plan.Stages[i].BaseStage {
		keep[i] = true
	}
	return keep
}

// archiveMounts stores a gzip'd tar of every cache mount this build used and describes them.
func (bd *build) archiveMounts(ctx context.Context) ([]cache.MountArchive, error) {
	bd.mu.Lock()
	ids := make([]string, 0, len(bd.usedMounts))
	for id := range bd.usedMounts {
		ids = append(ids, id)
	}
	bd.mu.Unlock()
	sort.Strings(ids)
	var out []cache.MountArchive
	for _, id := range ids {
		dir := filepath.Join(bd.b.root, "cachemounts", id)
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(snapshot.WriteDiff(ctx, dir, pw, snapshot.DiffOptions{})) }()
		bw, err := bd.b.store.NewBlobWriter()
		if err != nil {
			pr.Close()
			return nil, err
		}
		c, err := snapshot.Compress(ctx, pr, bw, snapshot.CompressOptions{})
		pr.Close()
		if err == nil {
			_, _, err = bw.Commit(c.Digest)
		}
		bw.Abort()
		if err != nil {
			return nil, fmt.Errorf("archiving cache mount %s: %w", id, err)
		}
		out = append(out, cache.MountArchive{ID: id, Digest: c.Digest.String(), DiffID: c.DiffID.String(), Size: c.Size})
	}
	return out, nil
}
