package store

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// Helper-process modes: the test binary re-executes itself with
// HOIST_STORE_TEST_HELPER set to run one of these instead of the tests.
const helperEnv = "HOIST_STORE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
	case "addimages":
		os.Exit(helperAddImages())
	case "crash":
		os.Exit(helperCrash())
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// helperAddImages: HOIST_STORE_ROOT, HOIST_STORE_MANIFESTS (comma
// separated), HOIST_STORE_PREFIX, HOIST_STORE_N: adds N names
// "<prefix>/img:<i>" round-robin over the manifests.
func helperAddImages() int {
	s, err := Open(os.Getenv("HOIST_STORE_ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var hs []v1.Hash
	for _, m := range strings.Split(os.Getenv("HOIST_STORE_MANIFESTS"), ",") {
		h, err := v1.NewHash(m)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		hs = append(hs, h)
	}
	n, _ := strconv.Atoi(os.Getenv("HOIST_STORE_N"))
	prefix := os.Getenv("HOIST_STORE_PREFIX")
	for i := range n {
		if err := s.AddImage(context.Background(), hs[i%len(hs)], fmt.Sprintf("%s/img:%d", prefix, i)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// helperCrash starts a blob write and exits without committing or
// aborting, as a crashed process would.
func helperCrash() int {
	s, err := Open(os.Getenv("HOIST_STORE_ROOT"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bw, err := s.NewBlobWriter()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := bw.Write([]byte("half a blob")); err != nil {
		return 1
	}
	return 0 // exits with the temp file still there
}

func runHelper(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + mode}, env...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t.Cleanup(func() {
		if stderr.Len() > 0 {
			t.Logf("helper %s stderr: %s", mode, stderr.String())
		}
	})
	return cmd
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storeRandom writes a random image and returns its manifest digest.
func storeRandom(t *testing.T, s *Store, names ...string) v1.Hash {
	t.Helper()
	img, err := random.Image(256, 2)
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.WriteImage(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddImage(context.Background(), h, names...); err != nil {
		t.Fatal(err)
	}
	return h
}

func imageID(t *testing.T, s *Store, manifest v1.Hash) v1.Hash {
	t.Helper()
	id, err := s.configDigest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// dirEntries lists the names in dir (sorted).
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func blobCount(t *testing.T, s *Store) int {
	return len(dirEntries(t, filepath.Join(s.Root(), blobsDir, "sha256")))
}

func tmpCount(t *testing.T, s *Store) int {
	return len(dirEntries(t, filepath.Join(s.Root(), tmpDir)))
}

// rootfsTar builds an uncompressed tar with the given files.
func rootfsTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if target == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func dockerAvailable(t *testing.T) {
	t.Helper()
	prereq.Require(t, prereq.Docker)
}
