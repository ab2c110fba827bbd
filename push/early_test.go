package push

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestUploaderEarlyThenPush: layers added while "building" are uploaded once each (to every
// repository), no manifest appears until Push, and Push then uploads only the rest (config and the
// layers nobody added) and the manifest.
func TestUploaderEarlyThenPush(t *testing.T) {
	reg, log := newRegistry(t, nil)
	st := newStore(t)
	_, h := storeRandom(t, st, 3, "app:1")
	img, err := st.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	repos := []name.Repository{mustRef(t, reg+"/a/app:1").Context(), mustRef(t, reg+"/b/app:1").Context()}
	var mu sync.Mutex
	var done []v1.Hash
	u := NewUploader(context.Background(), st, repos, testOptions(), func(d v1.Hash) { mu.Lock(); done = append(done, d); mu.Unlock() })
	u.Add(layers[0])
	u.Add(layers[1])
	u.Add(layers[0]) // again: nothing more
	if err := u.Wait(); err != nil {
		t.Fatal(err)
	}
	// ggcr's registry keeps blobs registry-wide: repository b answers the HEAD, so each layer is
	// uploaded once, to a, and only checked in b.
	if len(done) != 2 || log.count("PUT", "/blobs/uploads/") != 2 || log.count("HEAD", "/v2/b/app/blobs/") != 2 || log.count("PUT", "/manifests/") != 0 {
		t.Fatalf("early: done %v, %d blob PUTs (want 2), %d manifest PUTs:\n%s", done, log.count("PUT", "/blobs/uploads/"), log.count("PUT", "/manifests/"), strings.Join(log.reqs, "\n"))
	}
	if _, err := Push(context.Background(), st, h, mustRef(t, reg+"/a/app:1"), testOptions()); err != nil {
		t.Fatal(err)
	}
	// The push sends the third layer and the config, and the manifest.
	if n := log.count("PUT", "/blobs/uploads/"); n != 4 || log.count("PUT", "/manifests/") != 1 {
		t.Errorf("after push: %d blob PUTs (want 4), %d manifest PUTs (want 1):\n%s", n, log.count("PUT", "/manifests/"), strings.Join(log.reqs, "\n"))
	}
}

// TestUploaderError: a refused upload is Wait's error and stops the other uploads.
func TestUploaderError(t *testing.T) {
	reg, _ := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost || r.Method == http.MethodPut {
				http.Error(w, `{"errors":[{"code":"DENIED","message":"no uploads here"}]}`, http.StatusForbidden)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	st := newStore(t)
	_, h := storeRandom(t, st, 2)
	img, _ := st.Image(h)
	layers, _ := img.Layers()
	o := testOptions()
	o.Backoff = remote.Backoff{Steps: 1}
	u := NewUploader(context.Background(), st, []name.Repository{mustRef(t, reg+"/x/y:1").Context()}, o, nil)
	for _, l := range layers {
		u.Add(l)
	}
	if err := u.Wait(); err == nil || !strings.Contains(err.Error(), "no uploads here") || !strings.Contains(err.Error(), "pushing layer sha256:") {
		t.Errorf("Wait = %v, want the registry's refusal naming the layer", err)
	}
	u.Abort() // harmless after Wait
}
