package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// infoFacts is the template both docker info and hoist info answer with the same field names.
const infoFacts = "{{.KernelVersion}}|{{.OperatingSystem}}|{{.OSType}}|{{.Architecture}}|{{.NCPU}}|{{.MemTotal}}|{{.CgroupVersion}}|{{.Name}}"

func cgroupV2() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return err == nil
}

// TestInfo: hoist info as root. The host's facts are docker info's (the oracle, same template);
// the storage driver is the kernel's overlay without userxattr; --format json and templates work;
// a bad --format or --storage-driver is exit 125 naming the flag.
func TestInfo(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Docker)
	root := t.TempDir()
	r := hoist(t, root, "", "info")
	if r.code != 0 {
		t.Fatalf("hoist info: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"Client:\n Version:", "\nHost:\n Storage Driver: overlay\n  Backing Filesystem: ",
		"  userxattr: false\n", " Cgroup Driver: cgroupfs\n", " Rootless: false\n", " Network: bridge host none\n",
		"  seccomp\n   Profile: builtin\n", " Hoist Root Dir: " + root + "\n", " Platforms: linux/"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("hoist info lacks %q:\n%s", want, r.stdout)
		}
	}
	out, err := exec.Command("docker", "info", "--format", infoFacts).Output()
	if err != nil {
		t.Fatalf("docker info: %v", err)
	}
	if got := hoist(t, root, "", "info", "--format", infoFacts); got.code != 0 || got.stdout != string(out) {
		t.Errorf("hoist info --format %s = %q (exit %d), docker info says %q", infoFacts, got.stdout, got.code, out)
	}
	r = hoist(t, root, "", "system", "info", "--format", "json")
	var v map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &v) != nil || v["Driver"] != "overlay" || v["Rootless"] != false {
		t.Errorf("hoist system info --format json: exit %d, %q", r.code, r.stdout)
	}
	if r := hoist(t, root, "", "--storage-driver", "copy", "info", "--format", "{{.Driver}} {{json .DriverStatus}}"); r.code != 0 ||
		!strings.HasPrefix(r.stdout, `copy [["Backing Filesystem",`) || !strings.Contains(r.stdout, `["Chosen by","--storage-driver"]`) {
		t.Errorf("--storage-driver copy info: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"info", "--format", "{{.Driver"}, {"--storage-driver", "overlay2", "info"}} {
		r := hoist(t, root, "", args...)
		flag := strings.TrimPrefix(args[0], "--")
		if args[0] == "info" {
			flag = "format"
		}
		if r.code != 125 || !strings.Contains(r.stderr, "--"+flag) {
			t.Errorf("hoist %q: exit %d, stderr %q; want 125 naming --%s", args, r.code, r.stderr, flag)
		}
	}
	if r := hoist(t, root, "", "system", "stop"); r.code != 0 || !strings.Contains(r.stdout, "no rootless server") {
		t.Errorf("hoist system stop as root: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
}

// TestInfoRootless: hoist info as the unprivileged user shows the namespace's id mappings (the user
// and its /etc/subuid range), overlay with userxattr, no cgroups on v1, slirp4netns (preferred to pasta); hoist system stop
// refuses while a container runs, stops the server with --force, and says when none runs.
func TestInfoRootless(t *testing.T) {
	e := newRootlessEnv(t)
	u, err := user.Lookup(prereq.RootlessUser)
	if err != nil {
		t.Fatal(err)
	}
	sub := subRange(t, "/etc/subuid", u.Username)
	out := e.ok("info")
	want := []string{" Storage Driver: overlay\n", "  userxattr: true\n", " Rootless: true\n",
		fmt.Sprintf("  UID Map: 0 %s 1, 1 %s\n", u.Uid, sub), "  Outbound: slirp4netns\n", "  rootless\n",
		" Hoist Root Dir: " + filepath.Join(e.home(), "data", "hoist") + "\n",
		" Hoist Runtime Dir: " + filepath.Join(e.home(), "run", "hoist") + "\n"}
	if !cgroupV2() {
		want = append(want, " Cgroup Driver: none\n", "  Can create cgroups: no (rootless: cgroup v1")
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("rootless hoist info lacks %q:\n%s", w, out)
		}
	}

	load := filepath.Join(e.dir, "busybox.tar")
	root, _ := testutil.NewRoot(t)
	if r := hoist(t, root, "", "save", "-o", load, "busybox:latest"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	_ = os.Chmod(load, 0o644)
	e.ok("load", "-i", load)
	e.ok("run", "-d", "--name", "sleeper", "busybox", "sleep", "600")
	if r := e.run("", "system", "stop"); r.code == 0 || !strings.Contains(r.stderr, "--force") {
		t.Errorf("system stop with a running container: exit %d, %q", r.code, r.stderr)
	}
	pid := e.serverPid()
	if pid == 0 {
		t.Fatal("no rootless server after system stop refused")
	}
	if got := e.ok("system", "stop", "--force"); got != fmt.Sprintf("Stopped the rootless server (pid %d)\n", pid) {
		t.Errorf("system stop --force: %q", got)
	}
	for i := 0; e.serverPid() != 0 && i < 250; i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if got := e.ok("system", "stop"); got != "No rootless server is running\n" {
		t.Errorf("system stop without a server: %q", got)
	}
	if e.serverPid() != 0 {
		t.Errorf("system stop started a server")
	}
}

// subRange is the first "start count" of name in a subordinate id file.
func subRange(t *testing.T, file, name string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Split(line, ":"); len(f) == 3 && f[0] == name {
			return f[1] + " " + f[2]
		}
	}
	t.Fatalf("%s has no range for %s", file, name)
	return ""
}

// fuseDockerfile changes owners, deletes lower files, replaces a lower directory (opaque), hard
// links, chowns a copied-up symlink and COPYs with --chown: the cases where fuse-overlayfs's upper
// dir differs from the kernel's.
const fuseDockerfile = `FROM busybox
RUN mkdir -p /data/sub && echo a > /data/sub/f && ln /data/sub/f /data/hard && chown -R 1000:1000 /data
RUN rm /bin/vi && rm -rf /data/sub && mkdir /data/sub && echo b > /data/sub/g && chown -h 7:7 /bin/sh && \
    echo x >> /etc/group && ln /bin/busybox /usr/bin/bb2
COPY --chown=1234:5678 f.txt /f.txt
`

// TestFuseOverlayfsBuild: a build forced onto fuse-overlayfs gives the image the kernel's overlay
// gives (SOURCE_DATE_EPOCH), as root and rootless; without /dev/fuse it is one clear error.
func TestFuseOverlayfsBuild(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Busybox|prereq.FuseOverlayfs)
	ctxDir := t.TempDir()
	testutil.WriteFiles(t, ctxDir, map[string]string{"Dockerfile": fuseDockerfile, "f.txt": "f\n"})
	build := func(root, ctxDir string, driver ...string) string {
		t.Helper()
		r := hoist(t, root, "", append(driver, "build", "-q", "--source-date-epoch", "1700000000", ctxDir)...)
		if r.code != 0 {
			t.Fatalf("build %v: exit %d: %s", driver, r.code, r.stderr)
		}
		return strings.TrimSpace(r.stdout)
	}
	kroot, _ := testutil.NewRoot(t)
	froot, _ := testutil.NewRoot(t)
	kernel := build(kroot, ctxDir)
	fuse := build(froot, ctxDir, "--storage-driver", "fuse-overlayfs")
	if kernel == "" || fuse != kernel {
		t.Errorf("fuse-overlayfs build %q, kernel overlay build %q: want the same image", fuse, kernel)
	}
	// The image runs: the snapshots fuse-overlayfs left are usable lowers.
	if r := hoist(t, froot, "", "run", "--rm", fuse, "sh", "-c", "stat -c '%u:%g' /data/sub/g /f.txt; ls /data/sub"); r.code != 0 ||
		r.stdout != "0:0\n1234:5678\ng\n" {
		t.Errorf("run of the fuse-overlayfs build: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}

	// No /dev/fuse: a private mount namespace whose /dev is a tmpfs holding null only.
	script := `mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && exec "$@"`
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
		os.Args[0], "--root", froot, "--storage-driver", "fuse-overlayfs", "build", "--no-cache", "-q", ctxDir)
	cmd.Env = append(os.Environ(), "HOIST_TEST_CLI=1")
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "storage driver fuse-overlayfs: fuse-overlayfs needs /dev/fuse: open /dev/fuse: no such file or directory") {
		t.Errorf("build without /dev/fuse: %v, %s", err, b)
	}

	// Rootless: the same image again.
	e := newRootlessEnv(t)
	load := filepath.Join(e.dir, "busybox.tar")
	if r := hoist(t, kroot, "", "save", "-o", load, "busybox:latest"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	_ = os.Chmod(load, 0o644)
	rctx := filepath.Join(e.dir, "ctx")
	testutil.WriteFiles(t, rctx, map[string]string{"Dockerfile": fuseDockerfile, "f.txt": "f\n"})
	_ = filepath.Walk(rctx, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })
	e.ok("load", "-i", load)
	rootful := build(kroot, rctx, "--storage-driver", "overlay") // the same context (its files are 0755)
	if got := strings.TrimSpace(e.ok("--storage-driver", "fuse-overlayfs", "build", "-q", "--source-date-epoch", "1700000000", rctx)); got != rootful {
		t.Errorf("rootless fuse-overlayfs build %q, rootful kernel overlay build %q", got, rootful)
	}
	if got := e.ok("--storage-driver", "fuse-overlayfs", "info", "--format", "{{.Driver}} {{.Rootless}}"); got != "fuse-overlayfs true\n" {
		t.Errorf("rootless info with fuse-overlayfs: %q", got)
	}
}

// TestStorageDriverContainers: containers run on the kernel's overlay only, so a storage driver
// forced for run or create (fuse-overlayfs, copy: build steps' drivers) is exit 125 naming the
// flag, and no container is made.
func TestStorageDriverContainers(t *testing.T) {
	root := containerRoot(t)
	for _, d := range []string{"fuse-overlayfs", "copy"} {
		for _, cmd := range []string{"run", "create"} {
			r := hoist(t, root, "", "--storage-driver", d, cmd, "busybox", "true")
			if r.code != 125 || !strings.Contains(r.stderr, "--storage-driver") || !strings.Contains(r.stderr, "storage driver "+d+" is for build steps") {
				t.Errorf("--storage-driver %s %s: exit %d, stderr %q", d, cmd, r.code, r.stderr)
			}
		}
	}
	if r := hoist(t, root, "", "ps", "-a", "-q"); r.code != 0 || r.stdout != "" {
		t.Errorf("containers left: %q %q", r.stdout, r.stderr)
	}
	if r := hoist(t, root, "", "--storage-driver", "overlay", "run", "--rm", "--network", "none", "busybox", "true"); r.code != 0 {
		t.Errorf("--storage-driver overlay run: exit %d, %q", r.code, r.stderr)
	}
}
