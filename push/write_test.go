package push

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

func TestPushSkipsExistingAndMounts(t *testing.T) {
	reg, log := newRegistry(t, hideOtherBlobs)
	st := newStore(t)
	_, h := storeRandom(t, st, 3, reg+"/base/img:1")
	ctx := context.Background()
	if _, err := Push(ctx, st, h, mustRef(t, reg+"/base/img:1"), testOptions()); err != nil {
		t.Fatal(err)
	}
	uploads := log.count("PATCH", "/blobs/uploads/") + log.count("PUT", "/blobs/uploads/")
	if uploads == 0 {
		t.Fatal("first push uploaded nothing")
	}

	// No-op re-push: nothing uploaded, no manifest PUT.
	n0 := len(log.reqs)
	res, err := Push(ctx, st, h, mustRef(t, reg+"/base/img:1"), testOptions())
	if err != nil || res.Digest.DigestStr() != h.String() {
		t.Fatalf("re-push: %+v %v", res, err)
	}
	for _, r := range log.reqs[n0:] {
		if strings.HasPrefix(r, "PUT") || strings.HasPrefix(r, "PATCH") || strings.HasPrefix(r, "POST") {
			t.Errorf("no-op re-push sent %s", r)
		}
	}

	// Another repository on the same registry: the layers are mounted from base/img, not uploaded.
	n0 = len(log.reqs)
	if _, err := Push(ctx, st, h, mustRef(t, reg+"/other/img:2"), testOptions()); err != nil {
		t.Fatal(err)
	}
	mounts, patches := 0, 0
	for _, r := range log.reqs[n0:] {
		if strings.HasPrefix(r, "POST") && strings.Contains(r, "mount=") && strings.Contains(r, "from=base") {
			mounts++
		}
		if strings.HasPrefix(r, "PATCH") {
			patches++
		}
	}
	// ggcr's test registry answers every mount with an upload session, so only the attempts are
	// checked here; cmd/hoist's TestRegistryMounts shows distribution's registry honouring them.
	if mounts != 3 {
		t.Errorf("cross-repository push: %d mounts, %d uploads; requests:\n%s", mounts, patches, strings.Join(log.reqs[n0:], "\n"))
	}
}

// TestPushMountsFromEarlierPushes: with no name in the store on that registry, the blobs hoist pushed
// before (recorded in root/registry/blobs.json) are mounted into the next repository.
func TestPushMountsFromEarlierPushes(t *testing.T) {
	reg, log := newRegistry(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/other/") && strings.Contains(r.URL.Path, "/blobs/") {
				http.Error(w, "", http.StatusNotFound)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	st := newStore(t)
	_, h := storeRandom(t, st, 2, "local:1")
	ctx := context.Background()
	if _, err := Push(ctx, st, h, mustRef(t, reg+"/first/img:1"), testOptions()); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, st, h, mustRef(t, reg+"/other/img:1"), testOptions()); err != nil {
		t.Fatal(err)
	}
	if n := log.count("POST", "from=first"); n != 2 {
		t.Errorf("%d mount attempts from first/img, want 2", n)
	}
}

// hideOtherBlobs makes the blobs of repositories under other/ look absent: ggcr's test registry
// shares blobs between repositories, which distribution does not.
func hideOtherBlobs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.HasPrefix(r.URL.Path, "/v2/other/") && strings.Contains(r.URL.Path, "/blobs/") {
			http.Error(w, "", http.StatusNotFound)
			return
		}
		h.ServeHTTP(w, r)
	})
}
