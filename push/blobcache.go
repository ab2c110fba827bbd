package push

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// blobCacheFile records, per blob digest, the repositories hoist last pushed it to or pulled it from
// (like docker's distribution metadata and containers/image's blob-info cache), so a later push of
// the blob to another repository on the same registry can mount it. It is a hint: a lost update
// (two concurrent writers) or a stale entry costs one upload, never correctness. Written atomically.
const blobCacheFile = "registry/blobs.json"

const maxSourcesPerBlob = 4

type blobCache map[string][]string // digest → "registry/repository", most recent first

func loadBlobCache(root string) blobCache {
	c := blobCache{}
	b, err := os.ReadFile(filepath.Join(root, blobCacheFile))
	if err == nil {
		_ = json.Unmarshal(b, &c)
	}
	return c
}

// recordBlobs notes that repo has every digest in ds. Errors are ignored: the cache is a hint.
func recordBlobs(root string, repo name.Repository, ds []v1.Hash) {
	c := loadBlobCache(root)
	r := repo.Name()
	for _, d := range ds {
		k := d.String()
		l := slices.DeleteFunc(c[k], func(s string) bool { return s == r })
		c[k] = append([]string{r}, l...)
		if len(c[k]) > maxSourcesPerBlob {
			c[k] = c[k][:maxSourcesPerBlob]
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		return
	}
	p := filepath.Join(root, blobCacheFile)
	if os.MkdirAll(filepath.Dir(p), 0o700) != nil {
		return
	}
	// Only a hint for cross-repository mounts: a failed write loses hints, never data.
	_ = atomicfile.WriteFile(p, b, 0o600)
}

// sourcesFromCache adds to out, for digests not in it yet, a repository on dst's registry other
// than dst that the cache says has the blob.
func sourcesFromCache(root string, dst name.Repository, out map[v1.Hash]name.Repository) {
	for k, repos := range loadBlobCache(root) {
		h, err := v1.NewHash(k)
		if err != nil {
			continue
		}
		if _, ok := out[h]; ok {
			continue
		}
		for _, r := range repos {
			repo, err := name.NewRepository(r)
			if err != nil || repo.RegistryStr() != dst.RegistryStr() || repo.RepositoryStr() == dst.RepositoryStr() {
				continue
			}
			out[h] = repo
			break
		}
	}
}
