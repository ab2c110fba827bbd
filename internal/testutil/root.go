package testutil

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/store"
)

var (
	busyboxOnce sync.Once
	busyboxTar  []byte
	busyboxErr  error
)

// BusyboxTar returns the refenv-identical busybox rootfs tar, made once per test binary from the
// host's /bin/busybox (Debian's busybox-static). Without one it is a missing prerequisite
// (prereq.Skip: a skip, or a failure in strict mode).
func BusyboxTar(t testing.TB) []byte {
	t.Helper()
	prereq.Require(t, prereq.Busybox)
	busyboxOnce.Do(func() {
		var buf bytes.Buffer
		busyboxErr = WriteBusyboxRootfs(&buf, "/bin/busybox")
		busyboxTar = buf.Bytes()
	})
	if busyboxErr != nil {
		t.Fatalf("making busybox rootfs: %v", busyboxErr)
	}
	return busyboxTar
}

// NewRoot returns a fresh hoist root in a temp dir holding busybox:latest, identical to the reference
// environment's busybox image (CMD ["sh"]).
func NewRoot(t testing.TB) (string, *store.Store) {
	t.Helper()
	return NewRootIn(t, t.TempDir())
}

// NewRootIn is NewRoot in the directory root (created if needed) rather than a temp dir.
func NewRootIn(t testing.TB, root string) (string, *store.Store) {
	t.Helper()
	BusyboxTar(t) // prereq.Busybox
	img, err := BusyboxImage("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := st.WriteImage(ctx, img)
	if err != nil {
		t.Fatalf("storing busybox: %v", err)
	}
	if err := st.AddImage(ctx, h, "docker.io/library/busybox:latest"); err != nil {
		t.Fatal(err)
	}
	return root, st
}
