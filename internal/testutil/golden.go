package testutil

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// GoldenBusyboxPackage is the Debian package whose /bin/busybox the busybox goldens
// (internal/testutil/testdata/busybox.rootfs.golden) and the corpus goldens built on them
// (builder/testdata/corpus/*/rootfs.golden) were recorded with: the binary's size and digest, and
// the applet list it prints, are in every rootfs golden. Update it when the goldens are recorded
// again (hack/record-golden) with another busybox-static.
const GoldenBusyboxPackage = "busybox-static 1:1.35.0-4+deb12u1+b1 amd64"

// goldenBusyboxDigest is the sha256 of /bin/busybox in the base golden, read once.
var goldenBusyboxDigest = sync.OnceValues(func() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	golden := filepath.Join(filepath.Dir(file), "testdata", "busybox.rootfs.golden")
	data, err := os.ReadFile(golden)
	if err != nil {
		return "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// "/bin/busybox f 0755 0:0 SIZE SHA256 -"
		if f := strings.Fields(sc.Text()); len(f) >= 6 && f[0] == "/bin/busybox" && f[1] == "f" {
			return f[5], nil
		}
	}
	return "", fmt.Errorf("%s has no /bin/busybox line", golden)
})

// RequireGoldenBusybox fails the test unless /bin/busybox is the build the goldens were recorded
// with (GoldenBusyboxPackage); without /bin/busybox it is a missing prerequisite. Every test that
// compares a rootfs built on the busybox base with a recorded golden calls it first, so a host with
// another busybox-static gets one clear message instead of a diff of every applet.
func RequireGoldenBusybox(t testing.TB) {
	t.Helper()
	prereq.Require(t, prereq.Busybox)
	want, err := goldenBusyboxDigest()
	if err != nil {
		t.Fatalf("reading the busybox golden: %v", err)
	}
	bin, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	if got := hex.EncodeToString(sum[:]); got != want {
		have, _ := exec.Command("dpkg-query", "-W", "-f=${Package} ${Version} ${Architecture}", "busybox-static").Output()
		if len(have) == 0 {
			have = []byte("an unknown busybox")
		}
		t.Fatalf("the goldens were recorded with %s (/bin/busybox sha256 %s); this host has %s (sha256 %s): "+
			"install that version (apt-get install busybox-static=VERSION) or record the goldens again (hack/record-golden)",
			GoldenBusyboxPackage, want, have, got)
	}
}
