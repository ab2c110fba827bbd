package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const testRepo = "registry.test:5000/cache/app"

// registryFetcher serves blobs from a map, as a registry would, and counts the fetches.
type registryFetcher struct {
	blobs map[v1.Hash][]byte
	calls atomic.Int64
}

func (r *registryFetcher) fetch(src RemoteSource, d v1.Descriptor) (io.ReadCloser, error) {
	r.calls.Add(1)
	if src.Repository != testRepo {
		return nil, errors.New("unexpected repository " + src.Repository)
	}
	b, ok := r.blobs[d.Digest]
	if !ok {
		return nil, errors.New("blob unknown to registry")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func newFetchingStore(t *testing.T, f Fetcher) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), WithFetcher(f))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func layerDesc(b []byte) v1.Descriptor {
	return v1.Descriptor{Digest: sha(b), Size: int64(len(b)), MediaType: types.OCILayer}
}

func TestRemoteRecord(t *testing.T) {
	s := newStore(t)
	content := []byte("remote layer")
	d := layerDesc(content)
	src := RemoteSource{Repository: testRepo, Insecure: true}
	if s.Available(d.Digest) {
		t.Fatal("available before anything was recorded")
	}
	if _, _, err := s.Remote(d.Digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Remote of an unrecorded blob: %v, want ErrNotFound", err)
	}
	for range 2 { // idempotent
		if err := s.AddRemote(d, src); err != nil {
			t.Fatal(err)
		}
	}
	gotDesc, gotSrc, err := s.Remote(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if gotDesc.Digest != d.Digest || gotDesc.Size != d.Size || gotDesc.MediaType != d.MediaType || gotSrc != src {
		t.Errorf("Remote = %+v %+v, want %+v %+v", gotDesc, gotSrc, d, src)
	}
	if !s.Available(d.Digest) || s.HasBlob(d.Digest) {
		t.Errorf("remote-backed blob: Available %v HasBlob %v, want true false", s.Available(d.Digest), s.HasBlob(d.Digest))
	}
	newer := RemoteSource{Repository: "registry.test:5000/other"}
	if err := s.AddRemote(d, newer); err != nil {
		t.Fatal(err)
	}
	if _, got, _ := s.Remote(d.Digest); got != newer {
		t.Errorf("after a second AddRemote the source is %+v, want the latest %+v", got, newer)
	}
	if tmpCount(t, s) != 0 {
		t.Error("temp files left behind")
	}

	present := []byte("present blob")
	if _, _, err := s.WriteBlob(context.Background(), bytes.NewReader(present), v1.Hash{}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRemote(layerDesc(present), src); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Remote(sha(present)); !errors.Is(err, ErrNotFound) {
		t.Errorf("a present blob got a remote record: %v", err)
	}

	bad := v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: "../../etc"}, Size: 1}
	if err := s.AddRemote(bad, src); !errors.Is(err, ErrInvalidDigest) {
		t.Errorf("AddRemote with a bad digest: %v", err)
	}
	if s.Available(bad.Digest) {
		t.Error("a bad digest is available")
	}
}

// TestOpenBlobFetchesRemote: a remote-backed blob is fetched on first read, verified against the
// recorded digest and size; whatever goes wrong, nothing half-written stays in the store and the error
// names the blob and the repository.
func TestOpenBlobFetchesRemote(t *testing.T) {
	content := bytes.Repeat([]byte("layer bytes "), 1000)
	d := layerDesc(content)
	tests := []struct {
		name    string
		fetcher Fetcher // nil: the store has none
		wantErr error   // nil: the read succeeds
		wantMsg string
	}{
		{"ok", func(RemoteSource, v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(content)), nil
		}, nil, ""},
		{"wrong bytes", func(RemoteSource, v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(strings.NewReader("something else")), nil
		}, ErrCorrupt, "fetching it from " + testRepo + " failed"},
		{"truncated", func(RemoteSource, v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(content[:100])), nil
		}, ErrCorrupt, "fetching it from " + testRepo + " failed"},
		{"connection drops", func(RemoteSource, v1.Descriptor) (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(content[:5000]), errReader{io.ErrUnexpectedEOF})), nil
		}, io.ErrUnexpectedEOF, "fetching it from " + testRepo + " failed"},
		{"registry error", func(RemoteSource, v1.Descriptor) (io.ReadCloser, error) {
			return nil, errors.New("registry answered 503")
		}, nil, "fetching it from " + testRepo + " failed: registry answered 503"},
		{"no fetcher", nil, ErrNotFound, "nothing here can fetch it from " + testRepo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newFetchingStore(t, tc.fetcher)
			if err := s.AddRemote(d, RemoteSource{Repository: testRepo}); err != nil {
				t.Fatal(err)
			}
			rc, err := s.OpenBlob(d.Digest)
			if tc.wantErr == nil && tc.wantMsg == "" {
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, content) {
					t.Fatalf("read %d bytes, %v", len(got), err)
				}
				if !s.HasBlob(d.Digest) {
					t.Error("the fetched blob is not stored")
				}
				return
			}
			if err == nil {
				rc.Close()
				t.Fatal("OpenBlob succeeded")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), d.Digest.String()) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not name the blob and %q", err, tc.wantMsg)
			}
			if s.HasBlob(d.Digest) || blobCount(t, s) != 0 || tmpCount(t, s) != 0 {
				t.Errorf("a failed fetch left files: blobs %d, tmp %d", blobCount(t, s), tmpCount(t, s))
			}
			if !s.Available(d.Digest) {
				t.Error("a failed fetch lost the remote record")
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// TestConcurrentFetchesShareOneDownload: readers of one remote-backed blob at the same time all get
// its bytes from a single fetch.
func TestConcurrentFetchesShareOneDownload(t *testing.T) {
	content := bytes.Repeat([]byte{7}, 1<<20)
	reg := &registryFetcher{blobs: map[v1.Hash][]byte{sha(content): content}}
	s := newFetchingStore(t, reg.fetch)
	if err := s.AddRemote(layerDesc(content), RemoteSource{Repository: testRepo}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			rc, err := s.OpenBlob(sha(content))
			if err != nil {
				t.Error(err)
				return
			}
			defer rc.Close()
			if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, content) {
				t.Errorf("read %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
	if n := reg.calls.Load(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

// TestImageWithRemoteLayers: an image whose layers are remote-backed is written without reading them,
// reads and validates by fetching them, and FetchImage makes it wholly local.
func TestImageWithRemoteLayers(t *testing.T) {
	l1 := gzipBytes(t, rootfsTar(t, map[string]string{"a": "one"}))
	l2 := gzipBytes(t, rootfsTar(t, map[string]string{"b": "two"}))
	img := ociImage(t, newLayer(t, l1, types.OCILayer), newLayer(t, l2, types.OCILayer))
	reg := &registryFetcher{blobs: map[v1.Hash][]byte{sha(l1): l1, sha(l2): l2}}
	ctx := context.Background()

	for _, tc := range []struct {
		name string
		use  func(s *Store, h v1.Hash) error
	}{
		{"validate", func(s *Store, h v1.Hash) error {
			stored, err := s.Image(h)
			if err != nil {
				return err
			}
			return validate.Image(stored)
		}},
		{"FetchImage", func(s *Store, h v1.Hash) error { return s.FetchImage(ctx, h) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.calls.Store(0)
			s := newFetchingStore(t, reg.fetch)
			for _, l := range [][]byte{l1, l2} {
				if err := s.AddRemote(layerDesc(l), RemoteSource{Repository: testRepo}); err != nil {
					t.Fatal(err)
				}
			}
			// The layers' own bytes are unreadable: writing must not need them.
			h, err := s.WriteImage(ctx, failingLayerImage{img})
			if err != nil {
				t.Fatal(err)
			}
			if s.HasBlob(sha(l1)) || s.HasBlob(sha(l2)) || reg.calls.Load() != 0 {
				t.Fatal("writing the image fetched its remote-backed layers")
			}
			if err := tc.use(s, h); err != nil {
				t.Fatal(err)
			}
			if !s.HasBlob(sha(l1)) || !s.HasBlob(sha(l2)) {
				t.Error("layers not stored after use")
			}
			if err := s.FetchImage(ctx, h); err != nil || reg.calls.Load() != 2 {
				t.Errorf("FetchImage of a local image: %v, %d fetches in all, want 2", err, reg.calls.Load())
			}
		})
	}
}

// TestBlobsAndDeleteRemote: garbage collection sees remote-backed blobs (declared size, Remote set)
// and DeleteBlob removes their records; a fetched blob is listed once, as local.
func TestBlobsAndDeleteRemote(t *testing.T) {
	fetched := gzipBytes(t, rootfsTar(t, map[string]string{"f": "fetched"}))
	unfetched := []byte("a remote-only blob")
	reg := &registryFetcher{blobs: map[v1.Hash][]byte{sha(fetched): fetched}}
	s := newFetchingStore(t, reg.fetch)
	for _, b := range [][]byte{fetched, unfetched} {
		if err := s.AddRemote(layerDesc(b), RemoteSource{Repository: testRepo}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FetchImage(context.Background(), storeImageOf(t, s, fetched)); err != nil {
		t.Fatal(err)
	}
	blobs, err := s.Blobs()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[v1.Hash]BlobInfo{}
	for _, b := range blobs {
		if _, dup := seen[b.Digest]; dup {
			t.Errorf("%s listed twice", b.Digest)
		}
		seen[b.Digest] = b
	}
	if b := seen[sha(fetched)]; b.Remote || b.Size != int64(len(fetched)) {
		t.Errorf("fetched blob listed as %+v", b)
	}
	if b := seen[sha(unfetched)]; !b.Remote || b.Size != int64(len(unfetched)) {
		t.Errorf("remote-only blob listed as %+v", b)
	}
	for _, b := range [][]byte{fetched, unfetched} {
		if err := s.DeleteBlob(sha(b)); err != nil {
			t.Fatal(err)
		}
		if s.Available(sha(b)) {
			t.Errorf("%s still available after DeleteBlob", sha(b))
		}
	}
}

// storeImageOf writes an image whose only layer is the remote-backed blob b and returns its manifest.
func storeImageOf(t *testing.T, s *Store, b []byte) v1.Hash {
	t.Helper()
	h, err := s.WriteImage(context.Background(), failingLayerImage{ociImage(t, newLayer(t, b, types.OCILayer))})
	if err != nil {
		t.Fatal(err)
	}
	return h
}
