package store

import (
	"context"
	"errors"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// usedStore is a store whose users are *users (read at each call).
func usedStore(t *testing.T, users *[]ImageUser) *Store {
	t.Helper()
	s, err := Open(t.TempDir(), WithUsers(func(context.Context) ([]ImageUser, error) { return *users, nil }))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRemoveProtectsImagesInUse(t *testing.T) {
	ctx := context.Background()
	var users []ImageUser
	s := usedStore(t, &users)
	a := storeRandom(t, s, "busybox:latest", "busybox:1")
	b := storeRandom(t, s, "alpine:latest")
	users = []ImageUser{{ID: "0123456789abcdef", Image: a}, {ID: "fedcba9876543210", Image: b, Running: true}}

	// One of several names: only an untag, allowed.
	if _, err := s.Remove(ctx, "busybox:1", false); err != nil {
		t.Fatalf("untag of one of two names: %v", err)
	}
	// Last name of an image a stopped container uses: needs force.
	_, err := s.Remove(ctx, "busybox:latest", false)
	var iu *InUseError
	if !errors.As(err, &iu) || iu.Running || iu.Container != "0123456789ab" || !errors.Is(err, ErrConflict) {
		t.Fatalf("remove of a used image: %v, want a stopped-container InUseError wrapping ErrConflict", err)
	}
	want := `conflict: unable to remove repository reference "busybox:latest" (must force) - container 0123456789ab is using its referenced image`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if _, err := s.Remove(ctx, "busybox:latest", true); err != nil {
		t.Fatalf("forced remove of an image a stopped container uses: %v", err)
	}
	// A running container's image: never, even by ID and forced.
	_, err = s.Remove(ctx, b.String(), true)
	if !errors.As(err, &iu) || !iu.Running {
		t.Fatalf("forced remove of a running container's image: %v, want a running InUseError", err)
	}
	want = "conflict: unable to delete " + b.String() + " (cannot be forced) - image is being used by running container fedcba987654"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// Unknown references are Remove's to report.
	if _, err := s.Remove(ctx, "nosuch:1", false); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove of an unknown name: %v, want ErrNotFound", err)
	}
}

func TestRemoveWithoutUsersProtectsNothing(t *testing.T) {
	s := newStore(t)
	storeRandom(t, s, "busybox:latest")
	if _, err := s.Remove(context.Background(), "busybox:latest", false); err != nil {
		t.Fatal(err)
	}
}

func TestPruneImagesKeepsImagesInUse(t *testing.T) {
	ctx := context.Background()
	var users []ImageUser
	s := usedStore(t, &users)
	used := storeRandom(t, s)
	named := storeRandom(t, s, "busybox:latest")
	kept := storeRandom(t, s)
	gone := storeRandom(t, s)
	users = []ImageUser{{ID: "c1", Image: used}, {ID: "c2", Image: used, Running: true}}
	if _, _, err := s.PruneImages(ctx, true, []v1.Hash{kept}); err != nil {
		t.Fatal(err)
	}
	got := indexNames(t, s)
	for _, h := range []v1.Hash{used, kept} {
		if _, ok := got[h]; !ok {
			t.Errorf("%s pruned", h)
		}
	}
	for _, h := range []v1.Hash{named, gone} {
		if _, ok := got[h]; ok {
			t.Errorf("%s not pruned with all", h)
		}
	}
	inUse, err := s.InUse(ctx)
	if err != nil || !slices.Equal(inUse, []v1.Hash{used}) {
		t.Errorf("InUse = %v, %v; want [%s]", inUse, err, used)
	}
}

func TestUsersErrorFailsRemove(t *testing.T) {
	boom := errors.New("boom")
	s, err := Open(t.TempDir(), WithUsers(func(context.Context) ([]ImageUser, error) { return nil, boom }))
	if err != nil {
		t.Fatal(err)
	}
	storeRandom(t, s)
	h := storeRandom(t, s, "busybox:latest")
	if _, err := s.Remove(context.Background(), h.String(), false); !errors.Is(err, boom) {
		t.Errorf("Remove with failing Users: %v, want boom", err)
	}
	if _, _, err := s.PruneImages(context.Background(), false, nil); !errors.Is(err, boom) {
		t.Errorf("PruneImages with failing Users: %v, want boom", err)
	}
}
