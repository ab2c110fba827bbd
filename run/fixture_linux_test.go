package run_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/run"
	"golang.org/x/sys/unix"
)

// orphanEnv makes the test binary a caller that runs `sleep <marker>` in the
// rootfs named by the variable and blocks; TestRunDiesWithCaller kills it.
const orphanEnv = "HOIST_RUN_TEST_ORPHAN_ROOTFS"

const orphanMarker = "86420"

func TestMain(m *testing.M) {
	run.MaybeInit()
	if rootfs := os.Getenv(orphanEnv); rootfs != "" {
		spec := run.Spec{Rootfs: rootfs, Env: []string{"PATH=/bin"}, Args: []string{"sleep", orphanMarker}}
		code, err := run.Run(context.Background(), spec, run.IO{Stderr: os.Stderr})
		fmt.Fprintln(os.Stderr, "orphan helper: run returned", code, err)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
		"app:x:1000:1000:app:/home/app:/bin/sh\n"
	testGroup = "root:x:0:\n" +
		"tty:x:5:\n" +
		"nogroup:x:65534:\n" +
		"app:x:1000:\n" +
		"extra:x:2000:app\n"
)

// requireRoot skips unless the test can create namespaces, and points TMPDIR
// at a directory that must be empty after every run.
func requireRoot(t testing.TB) {
	t.Helper()
	prereq.Require(t, prereq.Root) // namespaces
	t.Setenv("TMPDIR", t.TempDir())
}

// busybox returns the host's static busybox.
func busybox(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/bin/busybox", "/usr/bin/busybox"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	prereq.Skip(t, "no static busybox on this host (apt-get install busybox-static, or make deps)")
	return ""
}

// newRootfs builds a busybox rootfs with the test users. It has no /proc,
// /sys, /dev or /etc/hosts, so every run must create and remove them.
func newRootfs(t testing.TB) string {
	t.Helper()
	bb := busybox(t)
	root := t.TempDir()
	for _, d := range []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "home/app", "tmp"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(root, "home/app"), 1000, 1000); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bb, filepath.Join(root, "bin/busybox"), 0o755)
	if out, err := exec.Command("chroot", root, "/bin/busybox", "--install", "-s").CombinedOutput(); err != nil {
		t.Fatalf("busybox --install: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(root, "etc/passwd"), testPasswd)
	writeFile(t, filepath.Join(root, "etc/group"), testGroup)
	return root
}

func copyFile(t testing.TB, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listing describes every entry under root: type, mode, owner, size, link
// target, and mtime for directories (so a stub created and removed, or a
// restored parent mtime, is noticed).
func listing(t testing.TB, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s %o %d:%d", rel, st.Mode, st.Uid, st.Gid)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			fmt.Fprintf(&b, " mtime=%d.%09d", st.Mtim.Sec, st.Mtim.Nsec)
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", target)
		default:
			fmt.Fprintf(&b, " size=%d", st.Size)
		}
		b.WriteByte('\n')
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// ourMounts returns the lines of the caller's mountinfo that mention the
// rootfs or a sandbox temp dir (other tests on the machine may mount
// unrelated things concurrently).
func ourMounts(t testing.TB, rootfs string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, rootfs) || strings.Contains(l, "hoist-run-") {
			out = append(out, l)
		}
	}
	return out
}

type result struct {
	code           int
	stdout, stderr string
	err            error
}

// sandbox runs spec with a default PATH and checks the invariants that hold
// after every run: the rootfs listing is unchanged (unless wantChanged), no
// new mount in the caller's namespace, TMPDIR empty.
func sandbox(t *testing.T, ctx context.Context, spec run.Spec, stdin string, wantChanged bool) result {
	t.Helper()
	before := listing(t, spec.Rootfs)
	mountsBefore := ourMounts(t, spec.Rootfs)
	var stdout, stderr bytes.Buffer
	stdio := run.IO{Stdout: &stdout, Stderr: &stderr}
	if stdin != "" {
		stdio.Stdin = strings.NewReader(stdin)
	}
	code, err := run.Run(ctx, spec, stdio)
	if !wantChanged {
		if after := listing(t, spec.Rootfs); after != before {
			t.Errorf("rootfs changed by the run:\n%s", diffLines(before, after))
		}
	}
	if after := ourMounts(t, spec.Rootfs); strings.Join(after, "\n") != strings.Join(mountsBefore, "\n") {
		t.Errorf("caller's mounts changed:\nbefore %q\nafter  %q", mountsBefore, after)
	}
	if left, _ := os.ReadDir(os.Getenv("TMPDIR")); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
	return result{code, stdout.String(), stderr.String(), err}
}

// diffLines shows the lines only in a and only in b.
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for l := range ma {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for l := range mb {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// processesWith returns the host processes whose argv contains args, in order and as whole
// arguments ("sleep 100" does not match "sleep 1000", which other tests on the host run).
func processesWith(t testing.TB, args ...string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	// Whole arguments: "sleep 100" must not match another test's "sleep 1000".
	want := "\x00" + strings.Join(args, "\x00") + "\x00"
	var found []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(append([]byte{0}, b...), []byte(want)) {
			continue
		}
		found = append(found, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
	}
	return found
}

// killProcessesWith SIGKILLs the host processes whose argv contains args.
func killProcessesWith(t testing.TB, args ...string) {
	for _, p := range processesWith(t, args...) {
		pid, _, _ := strings.Cut(p, ":")
		if n, err := strconv.Atoi(pid); err == nil {
			_ = unix.Kill(n, unix.SIGKILL)
		}
	}
}

// checkErr compares err with the expectations of a table row.
func checkErr(t *testing.T, err error, wantErr string, wantIs error) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("error = nil, want %q", wantErr)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("error = %q, want it to contain %q", err, wantErr)
	}
	if wantIs != nil && !errors.Is(err, wantIs) {
		t.Fatalf("errors.Is(%v, %v) = false", err, wantIs)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
