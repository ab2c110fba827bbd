package push

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hoistbuild/hoist/store"
)

func TestPullStoresVerifiedImage(t *testing.T) {
	reg, log := newRegistry(t, nil)
	img := pushRandom(t, reg+"/team/app:1", 3)
	st := newStore(t)
	res, err := Pull(context.Background(), st, mustRef(t, reg+"/team/app:1"), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if res.Manifest != want || res.Layers != 3 || res.Fetched != 3 {
		t.Errorf("pulled %+v, want manifest %s, 3 layers fetched", res, want)
	}
	got, err := st.Image(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("stored image invalid: %v", err)
	}
	if h, err := st.Resolve(context.Background(), reg+"/team/app:1"); err != nil || h != want {
		t.Errorf("name not recorded: %v %v", h, err)
	}
	// A second pull fetches no blob.
	before := log.count("GET", "/blobs/")
	if res, err := Pull(context.Background(), st, mustRef(t, reg+"/team/app:1"), testOptions()); err != nil || res.Fetched != 0 {
		t.Errorf("second pull: %+v %v", res, err)
	}
	if n := log.count("GET", "/blobs/") - before; n != 0 {
		t.Errorf("second pull fetched %d blobs", n)
	}
}

// corrupting serves wrong bytes (same length) or a truncated body for blob GETs, every time.
func corrupting(truncate bool) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			if truncate {
				body = body[:len(body)/2]
			} else {
				body = bytes.Clone(body)
				body[len(body)/2] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

func TestPullRejectsBadBlobsAndStoresNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		wrap func(http.Handler) http.Handler
		want string
	}{
		{"corrupt", corrupting(false), "sha256"},
		{"truncated", corrupting(true), "size"},
		{"missing blob", func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
					http.Error(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}`, http.StatusNotFound)
					return
				}
				h.ServeHTTP(w, r)
			})
		}, "blob unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, _ := newRegistry(t, tc.wrap)
			pushRandom(t, reg+"/x:1", 2)
			st := newStore(t)
			before := storeState(t, st)
			_, err := Pull(context.Background(), st, mustRef(t, reg+"/x:1"), testOptions())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("pull error %v, want one mentioning %q", err, tc.want)
			}
			if after := storeState(t, st); after != before {
				t.Errorf("failed pull changed the store:\n%s\nwas:\n%s", after, before)
			}
		})
	}
}

// flaky injects, in turn, a 500, a 429 and a connection dropped mid-body on the first requests of
// every blob (and a 500 on the first manifest request): each request key fails `fails` times, then
// works.
type flaky struct {
	h     http.Handler
	fails int
	mu    sync.Mutex
	seen  map[string]int
	kinds int
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Method + " " + r.URL.Path
	if r.Method == http.MethodPatch || r.Method == http.MethodPut {
		key = r.Method + " upload"
	}
	f.mu.Lock()
	n := f.seen[key]
	f.seen[key]++
	kind := f.kinds
	if n < f.fails {
		f.kinds++
	}
	f.mu.Unlock()
	if n >= f.fails || r.URL.Path == "/v2/" {
		f.h.ServeHTTP(w, r)
		return
	}
	switch kind % 3 {
	case 0:
		http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"injected"}]}`, http.StatusInternalServerError)
	case 1:
		http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"injected"}]}`, http.StatusTooManyRequests)
	default:
		if r.Body != nil {
			io.CopyN(io.Discard, r.Body, 100)
		}
		rec := httptest.NewRecorder()
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			f.h.ServeHTTP(rec, r)
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
}

func TestPullAndPushSurviveFaults(t *testing.T) {
	var fl *flaky
	reg, log := newRegistry(t, func(h http.Handler) http.Handler {
		fl = &flaky{h: h, fails: 2, seen: map[string]int{}}
		return fl
	})
	st := newStore(t)
	img, h := storeRandom(t, st, 4, "app:1")
	dst := mustRef(t, reg+"/flaky/app:1")
	if _, err := Push(context.Background(), st, h, dst, testOptions()); err != nil {
		t.Fatalf("push through faults: %v", err)
	}
	other := newStore(t)
	res, err := Pull(context.Background(), other, dst, testOptions())
	if err != nil {
		t.Fatalf("pull through faults: %v", err)
	}
	want, _ := img.Digest()
	if res.Manifest != want {
		t.Fatalf("pulled %s, pushed %s", res.Manifest, want)
	}
	m, _ := img.Manifest()
	for _, l := range m.Layers {
		a, _ := io.ReadAll(mustOpen(t, st, l.Digest))
		b, _ := io.ReadAll(mustOpen(t, other, l.Digest))
		if !bytes.Equal(a, b) {
			t.Errorf("layer %s differs after the round trip", l.Digest)
		}
	}
	if fl.kinds < 6 {
		t.Errorf("only %d faults injected", fl.kinds)
	}
	if log.count("GET", "/blobs/") < 3*len(m.Layers) {
		t.Errorf("blob GETs were not retried: %d", log.count("GET", "/blobs/"))
	}
}

func mustOpen(t *testing.T, st *store.Store, h v1.Hash) io.Reader {
	t.Helper()
	rc, err := st.OpenBlob(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rc.Close() })
	return rc
}

func TestPullSelectsPlatform(t *testing.T) {
	reg, _ := newRegistry(t, nil)
	idx := mutate.IndexMediaType(empty.Index, "application/vnd.oci.image.index.v1+json")
	var want = map[string]v1.Hash{}
	for _, p := range []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}, {OS: "linux", Architecture: "s390x"}} {
		img, _ := random.Image(1024, 1)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
		d, _ := img.Digest()
		want[p.Architecture] = d
	}
	ref := mustRef(t, reg+"/multi:1")
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		p    v1.Platform
		want string
	}{
		{v1.Platform{OS: "linux", Architecture: "arm64"}, "arm64"},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, "arm64"},
		{v1.Platform{OS: "linux", Architecture: "s390x"}, "s390x"},
		{v1.Platform{OS: "linux", Architecture: "riscv64"}, ""},
	} {
		o := testOptions()
		o.Platform = &tc.p
		res, err := Pull(context.Background(), newStore(t), ref, o)
		if tc.want == "" {
			if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "linux/amd64") {
				t.Errorf("%s: error %v, want not found listing the platforms", tc.p.String(), err)
			}
			continue
		}
		if err != nil || res.Manifest != want[tc.want] {
			t.Errorf("%s: got %s (%v), want the %s image", tc.p.String(), res.Manifest, err, tc.want)
		}
	}
}

func TestPullMirrorsInOrderWithFallback(t *testing.T) {
	upstream, upLog := newRegistry(t, nil)
	none, emptyLog := newRegistry(t, nil)
	mirror, mirrorLog := newRegistry(t, nil)
	img := pushRandom(t, upstream+"/library/app:1", 1)
	want, _ := img.Digest()
	ref := mustRef(t, upstream+"/library/app:1")

	// The tag only upstream: the empty mirror is tried, then upstream.
	o := testOptions()
	o.Registries = Config{Mirrors: map[string][]string{upstream: {"http://" + none}}}
	res, err := Pull(context.Background(), newStore(t), ref, o)
	if err != nil || res.Manifest != want || res.Source.Context().RegistryStr() != upstream {
		t.Fatalf("fallback: %+v %v", res, err)
	}
	if emptyLog.count("GET", "/manifests/") == 0 {
		t.Errorf("the mirror was not tried")
	}

	// A mirror under a prefix that has it serves it; upstream sees no manifest request.
	pushRandom(t, mirror+"/hub/library/app:1", 1)
	mimg, _ := remote.Image(mustRef(t, mirror+"/hub/library/app:1"))
	mwant, _ := mimg.Digest()
	before := upLog.count("GET", "/manifests/")
	o.Registries = Config{Mirrors: map[string][]string{upstream: {none, mirror + "/hub"}}}
	res, err = Pull(context.Background(), newStore(t), ref, o)
	if err != nil || res.Manifest != mwant || res.Source.Context().RegistryStr() != mirror {
		t.Fatalf("mirror: %+v %v", res, err)
	}
	if upLog.count("GET", "/manifests/") != before || mirrorLog.count("GET", "/blobs/") == 0 {
		t.Errorf("upstream was asked although the mirror had the image")
	}
}
