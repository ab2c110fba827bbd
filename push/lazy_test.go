package push

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/store"
)

func TestBlobSourceInsecure(t *testing.T) {
	for _, tc := range []struct {
		repo string
		o    Options
		want bool
	}{
		{"127.0.0.1:5000/cache", Options{}, false}, // plain HTTP to loopback is allowed anyway
		{"reg.example/cache", Options{}, false},
		{"reg.example/cache", Options{SkipTLSVerify: true}, true},
		{"reg.example/cache", Options{Registries: Config{Insecure: []string{"reg.example"}}}, true},
		{"reg.example/cache", Options{Registries: Config{Insecure: []string{"other.example"}}}, false},
	} {
		repo, err := name.NewRepository(tc.repo)
		if err != nil {
			t.Fatal(err)
		}
		src := tc.o.BlobSource(repo)
		if src.Repository != tc.repo || src.Insecure != tc.want {
			t.Errorf("BlobSource(%s) with %+v = %+v, want insecure %v", tc.repo, tc.o, src, tc.want)
		}
	}
}

// TestPushRemoteBackedImage: an image whose layers are remote-backed in the store is pushed by
// mounting them from their repository; the registry refusing the mount (ggcr's test registry always
// does), the layers are fetched from there through BlobFetcher, verified, and uploaded.
func TestPushRemoteBackedImage(t *testing.T) {
	reg, log := newRegistry(t, hideOtherBlobs)
	ctx := context.Background()
	img := pushRandom(t, reg+"/cache/img:1", 2)
	o := testOptions()
	st, err := store.Open(t.TempDir(), store.WithFetcher(BlobFetcher(ctx, o)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	src := o.BlobSource(mustRef(t, reg+"/cache/img:1").Context())
	for _, l := range m.Layers {
		if err := st.AddRemote(l, src); err != nil {
			t.Fatal(err)
		}
	}
	h, err := st.WriteImage(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	if got := log.count("GET", "/blobs/"); got != 0 {
		t.Fatalf("writing the image downloaded %d blobs", got)
	}
	if _, err := Push(ctx, st, h, mustRef(t, reg+"/other/img:1"), o); err != nil {
		t.Fatal(err)
	}
	if n := log.count("POST", "from=cache%2Fimg") + log.count("POST", "from=cache/img"); n != len(m.Layers) {
		t.Errorf("%d mount attempts from cache/img, want %d:\n%s", n, len(m.Layers), strings.Join(log.reqs, "\n"))
	}
	for _, l := range m.Layers {
		if !st.HasBlob(l.Digest) {
			t.Errorf("layer %s was uploaded without being fetched", l.Digest)
		}
	}
	if n := log.count("GET", "/v2/cache/img/blobs/"); n != len(m.Layers) {
		t.Errorf("%d layer fetches from cache/img, want %d", n, len(m.Layers))
	}
}

// TestBlobFetcherErrors: a blob the repository lacks fails to open with an error naming the blob and
// the repository, and leaves the store as it was.
func TestBlobFetcherErrors(t *testing.T) {
	reg, _ := newRegistry(t, nil)
	ctx := context.Background()
	pushRandom(t, reg+"/cache/img:1", 1)
	missing := []byte("a blob no repository has")
	d, size, err := v1.SHA256(bytes.NewReader(missing))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.TempDir(), store.WithFetcher(BlobFetcher(ctx, testOptions())))
	if err != nil {
		t.Fatal(err)
	}
	repo := reg + "/cache/img"
	if err := st.AddRemote(v1.Descriptor{Digest: d, Size: size}, store.RemoteSource{Repository: repo}); err != nil {
		t.Fatal(err)
	}
	before := storeState(t, st)
	rc, err := st.OpenBlob(d)
	if err == nil {
		io.Copy(io.Discard, rc)
		rc.Close()
		t.Fatal("opened a blob the repository does not have")
	}
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), d.String()) || !strings.Contains(err.Error(), "fetching it from "+repo+" failed") {
		t.Errorf("error %q: want ErrNotFound naming %s and %s", err, d, repo)
	}
	if after := storeState(t, st); after != before {
		t.Errorf("a failed fetch changed the store:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
