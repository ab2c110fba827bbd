package push

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/store"
)

// fastBackoff keeps retry tests quick; the schedule, not the delay, is what they check.
var fastBackoff = remote.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 6}

func testOptions() Options {
	return Options{Keychain: Keychain(), Backoff: fastBackoff}
}

// requestLog records "METHOD path?query" of every request a test registry served.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		s += "?" + r.URL.RawQuery
	}
	l.reqs = append(l.reqs, s)
}

func (l *requestLog) count(method, frag string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		if strings.HasPrefix(r, method+" ") && strings.Contains(r, frag) {
			n++
		}
	}
	return n
}

// newRegistry serves ggcr's in-memory registry through wrap (nil: as is) on a loopback port and
// returns its host:port and request log.
func newRegistry(t *testing.T, wrap func(http.Handler) http.Handler) (string, *requestLog) {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(nopLogger()))
	if wrap != nil {
		h = wrap(h)
	}
	log := &requestLog{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), log
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// storeRandom writes a random image with n layers into st under names and returns its manifest digest.
func storeRandom(t *testing.T, st *store.Store, n int64, names ...string) (v1.Image, v1.Hash) {
	t.Helper()
	img, err := random.Image(4096, n)
	if err != nil {
		t.Fatal(err)
	}
	h, err := st.WriteImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AddImage(context.Background(), h, names...); err != nil {
		t.Fatal(err)
	}
	return img, h
}

// pushRandom puts a random image at ref in a registry (directly with ggcr) and returns it.
func pushRandom(t *testing.T, ref string, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(64<<10, layers)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	return img
}

// storeState lists every file under the store root's blobs/ and tmp/, to show a failed operation
// changed nothing.
func storeState(t *testing.T, st *store.Store) string {
	t.Helper()
	var b bytes.Buffer
	for _, d := range []string{"blobs", "tmp"} {
		filepath.WalkDir(filepath.Join(st.Root(), d), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				b.WriteString(strings.TrimPrefix(p, st.Root()) + "\n")
			}
			return nil
		})
	}
	imgs, _ := st.List(context.Background())
	for _, i := range imgs {
		b.WriteString(i.Manifest.String() + strings.Join(i.Names, ",") + "\n")
	}
	return b.String()
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
