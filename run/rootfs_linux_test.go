package run_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/run"
	"golang.org/x/sys/unix"
)

func TestRunMounts(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "hello"), "hi\n")
	conf := filepath.Join(t.TempDir(), "app.conf")
	writeFile(t, conf, "key=value\n")
	spec := run.Spec{
		Rootfs: rootfs,
		Env:    []string{testPath},
		Args: sh(`cat /data/in/hello; touch /data/in/x 2>&1 | grep -o 'Read-only file system';
			echo rw > /data/rw/w; cat /etc/app.conf; echo t > /scratch/f && cat /scratch/f;
			grep -E ' /(scratch|dev/shm|data/in|data/rw|etc/app.conf) ' /proc/mounts | awk '{
				n = split($4, o, ","); s = $2
				for (i = 1; i <= n; i++) if (o[i] ~ /^(ro|rw|nosuid|nodev|noexec|size=.*|mode=.*)$/) s = s " " o[i]
				print s }'`),
		Mounts: []run.Mount{
			{Type: "bind", Source: src, Target: "/data/in", ReadOnly: true},
			{Type: "bind", Source: src, Target: "/data/rw", Options: []string{"bind", "nosuid"}},
			{Type: "bind", Source: conf, Target: "/etc/app.conf", Options: []string{"ro"}},
			{Type: "tmpfs", Target: "/scratch", Options: []string{"nodev", "size=1m", "mode=0700"}},
			{Type: "tmpfs", Target: "/dev/shm", Options: []string{"size=2m"}}, // covers a standard mount
		},
	}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	checkErr(t, res.err, "", nil)
	want := "hi\nRead-only file system\nkey=value\nt\n" +
		"/dev/shm rw nosuid nodev noexec size=65536k\n" + // the standard one, then covered
		"/data/in ro\n" +
		"/data/rw rw nosuid\n" +
		"/etc/app.conf ro\n" +
		"/scratch rw nodev size=1024k mode=700\n" +
		"/dev/shm rw size=2048k\n"
	if res.code != 0 || res.stdout != want {
		t.Fatalf("Run = %d, stdout %q, stderr %q; want 0, %q", res.code, res.stdout, res.stderr, want)
	}
	if b, err := os.ReadFile(filepath.Join(src, "w")); err != nil || string(b) != "rw\n" {
		t.Errorf("write through the rw bind mount: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(src, "x")); err == nil {
		t.Errorf("write through the read-only bind mount succeeded")
	}
}

// A rootfs that has its mount points already keeps them, untouched.
func TestRunKeepsExistingMountPoints(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	for _, d := range []string{"proc", "sys", "dev"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o555); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(rootfs, "etc/hosts"), "# image hosts\n")
	// resolv.conf is a symlink resolved inside the rootfs, to a missing file.
	if err := os.Symlink("/run/resolv.conf", filepath.Join(rootfs, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: sh("cat /etc/hosts | wc -l; test -f /run/resolv.conf && echo resolv")}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	if res.err != nil || res.code != 0 || res.stdout != "2\nresolv\n" {
		t.Fatalf("Run = %d, %v, stdout %q, stderr %q", res.code, res.err, res.stdout, res.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(rootfs, "etc/hosts")); string(b) != "# image hosts\n" {
		t.Errorf("image /etc/hosts changed: %q", b)
	}
}

// Mount points created for the run are removed, but what the command wrote
// next to them stays, and a parent the command changed keeps its new mtime.
func TestRunStubsKeepCommandChanges(t *testing.T) {
	requireRoot(t)
	rootfs := t.TempDir()
	if err := os.Mkdir(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, busybox(t), filepath.Join(rootfs, "bin/busybox"), 0o755)
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	// No /etc, /proc, /sys, /dev: all are created for the run.
	spec := run.Spec{
		Rootfs: rootfs, Env: []string{"PATH=/bin"},
		Args: []string{"sh", "-c", "busybox mkdir /etc/app && echo x > /etc/app/conf && echo > /new"},
	}
	var before unix.Stat_t
	if err := unix.Lstat(rootfs, &before); err != nil {
		t.Fatal(err)
	}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", true)
	if res.err != nil || res.code != 0 {
		t.Fatalf("Run = %d, %v, stderr %q", res.code, res.err, res.stderr)
	}
	var got []string
	err := filepath.WalkDir(rootfs, func(p string, _ os.DirEntry, err error) error {
		rel, _ := filepath.Rel(rootfs, p)
		got = append(got, rel)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ". bin bin/busybox bin/sh etc etc/app etc/app/conf new"
	if strings.Join(got, " ") != want {
		t.Errorf("rootfs after run = %q, want %q", strings.Join(got, " "), want)
	}
	var after unix.Stat_t
	if err := unix.Lstat(rootfs, &after); err != nil {
		t.Fatal(err)
	}
	if after.Mtim == before.Mtim {
		t.Errorf("rootfs mtime restored although the command created /new in it")
	}
}

// The usual caller passes an overlay mount: nothing Run needed may show up in
// the upper directory (the layer) except directories copied up by overlayfs
// because a mount point was created in them (/etc for /etc/hosts), and those
// must have exactly the metadata of the lower directory, so that a differ
// comparing metadata leaves them out of the layer (as buildkit's does).
func TestRunOverlayRootfs(t *testing.T) {
	requireRoot(t)
	lower := newRootfs(t)
	base := t.TempDir()
	upper, work, merged := filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		prereq.Skip(t, "overlay mount: %v (modprobe overlay)", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(merged, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount overlay: %v", err)
		}
	})
	for _, tt := range []struct {
		name      string
		args      []string
		wantUpper string // entries of upper after the run, besides copied-up dirs
	}{
		{"true", []string{"true"}, ""},
		{"command writes a file", sh("echo x > /tmp/f"), "tmp tmp/f"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := run.Spec{Rootfs: merged, Env: []string{testPath}, Args: tt.args, User: "app", Network: run.NetworkNone}
			var before, after unix.Stat_t
			if err := unix.Lstat(upper, &before); err != nil {
				t.Fatal(err)
			}
			res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", tt.wantUpper != "")
			if res.err != nil || res.code != 0 {
				t.Fatalf("Run = %d, %v, stderr %q", res.code, res.err, res.stderr)
			}
			if err := unix.Lstat(upper, &after); err != nil {
				t.Fatal(err)
			}
			if tt.wantUpper == "" && after.Mtim != before.Mtim {
				t.Errorf("upper root mtime changed")
			}
			if got := upperChanges(t, lower, upper); got != tt.wantUpper {
				t.Errorf("upper dir changes = %q, want %q", got, tt.wantUpper)
			}
		})
	}
}

// upperChanges lists the entries of an overlay upper dir, leaving out
// directories whose metadata is identical to the lower one's.
func upperChanges(t *testing.T, lower, upper string) string {
	t.Helper()
	var got []string
	err := filepath.WalkDir(upper, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(upper, p)
		var u, l unix.Stat_t
		if err := unix.Lstat(p, &u); err != nil {
			return err
		}
		if unix.Lstat(filepath.Join(lower, rel), &l) == nil && u.Mode&unix.S_IFMT == unix.S_IFDIR &&
			u.Mode == l.Mode && u.Uid == l.Uid && u.Gid == l.Gid && u.Mtim == l.Mtim {
			return nil // a metadata-identical copy-up
		}
		if rel == "." {
			return nil // the upper root: checked by the caller
		}
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(got, " ")
}

// CopyUp fills an empty volume with the rootfs's content at its mount point (modes, owners, setuid,
// symlinks, times), once: a volume that has content is mounted as it is.
func TestRunMountCopyUp(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	data := filepath.Join(rootfs, "srv", "data")
	if err := os.MkdirAll(filepath.Join(data, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(data, "sub", "f"), "image content\n")
	if err := os.Symlink("sub/f", filepath.Join(data, "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{data, filepath.Join(data, "sub"), filepath.Join(data, "sub", "f")} {
		if err := os.Chown(p, 1000, 2000); err != nil {
			t.Fatal(err)
		}
	}
	// After the chown, which clears setuid.
	if err := os.Chmod(filepath.Join(data, "sub", "f"), os.ModeSetuid|0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1_600_000_000, 0)
	if err := os.Chtimes(filepath.Join(data, "sub", "f"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(data, "sub"), old, old); err != nil {
		t.Fatal(err)
	}
	vol := t.TempDir()
	spec := run.Spec{
		Rootfs: rootfs, Env: []string{testPath},
		Args:   sh("echo added > /srv/data/new; stat -c '%n %A %u:%g' /srv/data /srv/data/sub /srv/data/sub/f; cat /srv/data/link"),
		Mounts: []run.Mount{{Type: "bind", Source: vol, Target: "/srv/data", CopyUp: true}},
	}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	want := "/srv/data drwxr-xr-x 1000:2000\n/srv/data/sub drwxr-x--- 1000:2000\n/srv/data/sub/f -rwsr-xr-x 1000:2000\nimage content\n"
	if res.err != nil || res.code != 0 || res.stdout != want {
		t.Fatalf("Run = %d, %v, stdout %q, stderr %q; want stdout %q", res.code, res.err, res.stdout, res.stderr, want)
	}
	for _, p := range []string{"sub", "sub/f"} {
		fi, err := os.Stat(filepath.Join(vol, p))
		if err != nil || !fi.ModTime().Equal(old) {
			t.Errorf("volume's %s: mtime %v (%v), want %v", p, fi.ModTime(), err, old)
		}
	}
	// The rootfs itself is untouched; the volume kept what the command wrote.
	if _, err := os.Stat(filepath.Join(data, "new")); err == nil {
		t.Errorf("the command's write reached the rootfs")
	}
	// Not empty any more: a second run copies nothing (the deleted file stays deleted).
	if err := os.Remove(filepath.Join(vol, "sub", "f")); err != nil {
		t.Fatal(err)
	}
	spec.Args = sh("ls /srv/data /srv/data/sub")
	res = sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	if want := "/srv/data:\nlink\nnew\nsub\n\n/srv/data/sub:\n"; res.err != nil || res.stdout != want {
		t.Errorf("second run: %v, stdout %q, want %q", res.err, res.stdout, want)
	}
}
