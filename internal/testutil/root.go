package testutil

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/hoistbuild/hoist/store"
)

var (
	busyboxOnce sync.Once
	busyboxTar  []byte
	busyboxErr  error
)

// BusyboxTar returns the refenv-identical busybox rootfs tar, made once per test binary from the
// host's /bin/busybox (Debian's busybox-static). It skips the test when there is none.
func BusyboxTar(t testing.TB) []byte {
	t.Helper()
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("no /bin/busybox (apt-get install busybox-static, or make deps)")
	}
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
	BusyboxTar(t) // skips without /bin/busybox
	img, err := BusyboxImage("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
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

// RequireRoot skips tests that need real namespaces and mounts unless running as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, overlayfs)")
	}
}

// HaveDocker reports whether a docker daemon answers (the reference environment).
func HaveDocker() bool {
	return exec.Command("docker", "info").Run() == nil
}
