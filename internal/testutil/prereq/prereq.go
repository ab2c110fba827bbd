// Package prereq is the one place where a test gives up because the machine lacks something it
// needs (root, busybox-static, docker-registry, a dockerd, podman, overlayfs, a cgroup hierarchy...).
//
// Normally such a test is skipped with a message that starts with "missing prerequisite:". With
// HOIST_TEST_STRICT=1 in the environment (.ci/run sets it) the same call fails the test instead, so a
// suite run by CI cannot pass by skipping: everything it needs is installed by hack/deps.sh and
// started by hack/services.sh. Skips that no installation can change (-short, another architecture,
// a kernel without a feature) stay plain t.Skip calls and are counted by hack/testsum.
//
// It is a package of its own, importing only the standard library, so that the in-package tests of
// store (which internal/testutil imports) can use it too.
package prereq

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"sync"
	"testing"
)

// StrictEnv is the environment variable that turns a missing prerequisite into a test failure.
const StrictEnv = "HOIST_TEST_STRICT"

// Marker starts the message of every prerequisite skip; hack/testsum counts skips by it.
const Marker = "missing prerequisite: "

// Strict reports whether HOIST_TEST_STRICT=1.
func Strict() bool { return os.Getenv(StrictEnv) == "1" }

// Skip ends the test because a prerequisite is missing: t.Skip normally, t.Fatal in strict mode.
// The reason should say what is missing and how to get it.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := Marker + fmt.Sprintf(format, args...)
	if Strict() {
		t.Fatalf("%s (%s=1: a missing prerequisite fails the test; run `make deps` and hack/services.sh as root)", msg, StrictEnv)
		return
	}
	t.Skip(msg)
}

// Need is a set of prerequisites.
type Need uint

const (
	// Root: the effective user is root (namespaces, mounts, cgroups, mknod, chown).
	Root Need = 1 << iota
	// Busybox: /bin/busybox, Debian's busybox-static (the tests' base image is made from it).
	Busybox
	// Registry: Debian's docker-registry binary (testutil.Registry starts instances of it).
	Registry
	// Docker: /usr/bin/docker (docker.io, 20.10 with BuildKit), a dockerd answering on its default
	// socket, and busybox:latest in it (hack/services.sh starts and loads both).
	Docker
	// Podman: podman with docker.io/library/busybox:latest in its storage (hack/services.sh).
	Podman
	// Rootless: the unprivileged test user RootlessUser with a subordinate id range in /etc/subuid
	// and /etc/subgid, newuidmap/newgidmap (uidmap), pasta (passt), slirp4netns and a /dev/net/tun
	// everyone may open (hack/deps.sh sets all of it up).
	Rootless
	// FuseOverlayfs: fuse-overlayfs (Debian's package) and a /dev/fuse everyone may open, as Debian's
	// udev makes it (hack/deps.sh installs the one and sets the other).
	FuseOverlayfs
	// Arm64: an arm64 emulator registered with binfmt_misc with the F flag (Debian's
	// qemu-user-static and binfmt-support) and Debian's arm64 busybox-static binary at
	// Arm64Busybox (hack/deps.sh installs, registers and extracts both).
	Arm64
	// Debian: minbase Debian bookworm root filesystems for linux/amd64 and linux/arm64
	// (DebianRootfs) and a flat apt repository of one small package for both (DebianAptRepo),
	// made from Debian's mirror by hack/deps.sh; the arm64 half also needs Arm64's emulator.
	Debian
	// Skopeo: skopeo (Debian's package), the oracle that reads what hoist pushed to a registry.
	Skopeo
)

// Arm64Busybox is where hack/deps.sh extracts /bin/busybox of Debian's busybox-static:arm64.
const Arm64Busybox = "/usr/local/lib/hoist-test/linux-arm64/busybox"

// DebianRootfs is where hack/deps.sh writes the minbase Debian bookworm root filesystem of arch
// (amd64, arm64): a gzipped tar made by mmdebstrap.
func DebianRootfs(arch string) string {
	return "/usr/local/lib/hoist-test/linux-" + arch + "/debian-bookworm.tar.gz"
}

// DebianAptRepo is the flat apt repository hack/deps.sh fills: DebianAptPackage's .deb for amd64
// and arm64 and their Packages index (dpkg-scanpackages).
const DebianAptRepo = "/usr/local/lib/hoist-test/apt"

// DebianAptPackage is the package in DebianAptRepo: GNU hello, small and architecture-dependent.
const DebianAptPackage = "hello"

// RootlessUser is the unprivileged user the rootless tests run hoist as.
const RootlessUser = "hoistci"

// SmallRangeUser is an unprivileged user whose subordinate range (1000 ids) is too small for hoist.
const SmallRangeUser = "hoistci-small"

// Require checks every prerequisite in needs, in the order of the constants, and calls Skip for the
// first one missing. Checks that run programs run once per test binary.
func Require(t testing.TB, needs Need) {
	t.Helper()
	for _, c := range checks {
		if needs&c.need == 0 {
			continue
		}
		if reason := c.missing(); reason != "" {
			Skip(t, "%s", reason)
		}
	}
}

var checks = []struct {
	need    Need
	missing func() string
}{
	{Root, func() string {
		if os.Geteuid() != 0 {
			return "needs root (namespaces, mounts, cgroups)"
		}
		return ""
	}},
	{Busybox, func() string {
		if _, err := os.Stat("/bin/busybox"); err != nil {
			return "no /bin/busybox (apt-get install busybox-static, or make deps)"
		}
		return ""
	}},
	{Registry, func() string {
		if _, err := exec.LookPath("docker-registry"); err != nil {
			return "docker-registry not installed (apt-get install docker-registry, or make deps)"
		}
		return ""
	}},
	{Docker, cached(dockerMissing)},
	{Podman, cached(podmanMissing)},
	{Rootless, cached(rootlessMissing)},
	{FuseOverlayfs, func() string {
		if _, err := exec.LookPath("fuse-overlayfs"); err != nil {
			return "fuse-overlayfs not installed (hack/deps.sh installs it)"
		}
		if fi, err := os.Stat("/dev/fuse"); err != nil || fi.Mode().Perm()&0o006 != 0o006 {
			return "/dev/fuse is missing or not readable and writable by everyone (hack/deps.sh sets it)"
		}
		return ""
	}},
	{Arm64, cached(arm64Missing)},
	{Debian, func() string {
		const fix = " (hack/deps.sh makes it from Debian's mirror with mmdebstrap and apt-get download)"
		for _, p := range []string{DebianRootfs("amd64"), DebianRootfs("arm64"), DebianAptRepo + "/Packages"} {
			if _, err := os.Stat(p); err != nil {
				return "no " + p + fix
			}
		}
		return ""
	}},
	{Skopeo, func() string {
		if _, err := exec.LookPath("skopeo"); err != nil {
			return "skopeo not installed (apt-get install skopeo, or make deps)"
		}
		return ""
	}},
}

// arm64Missing checks for the aarch64 emulator as Debian registers it, and the arm64 busybox.
func arm64Missing() string {
	const fix = " (hack/deps.sh installs qemu-user-static and binfmt-support, mounts binfmt_misc and extracts busybox-static:arm64)"
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/qemu-aarch64")
	if err != nil || !strings.HasPrefix(string(b), "enabled") || !strings.Contains(string(b), "flags: ") {
		return "no enabled qemu-aarch64 handler in /proc/sys/fs/binfmt_misc" + fix
	}
	if !strings.Contains(strings.SplitN(strings.SplitAfter(string(b), "flags: ")[1], "\n", 2)[0], "F") {
		return "the qemu-aarch64 handler lacks the F flag: containers cannot use it" + fix
	}
	if _, err := os.Stat(Arm64Busybox); err != nil {
		return "no " + Arm64Busybox + fix
	}
	return ""
}

func rootlessMissing() string {
	const fix = " (hack/deps.sh sets it up)"
	for _, name := range []string{RootlessUser, SmallRangeUser} {
		if _, err := user.Lookup(name); err != nil {
			return "no user " + name + fix
		}
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		b, err := os.ReadFile(f)
		if err != nil || !strings.Contains("\n"+string(b), "\n"+RootlessUser+":") {
			return "no subordinate ids for " + RootlessUser + " in " + f + fix
		}
	}
	for _, p := range []string{"newuidmap", "newgidmap", "pasta", "slirp4netns"} {
		if _, err := exec.LookPath(p); err != nil {
			return p + " not installed (uidmap, passt, slirp4netns)" + fix
		}
	}
	if fi, err := os.Stat("/dev/net/tun"); err != nil || fi.Mode().Perm()&0o006 != 0o006 {
		return "/dev/net/tun is not readable and writable by everyone (pasta and slirp4netns need it)" + fix
	}
	return ""
}

func cached(f func() string) func() string {
	return sync.OnceValue(f)
}

func dockerMissing() string {
	const docker = "/usr/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		return docker + " is absent (apt-get install docker.io, or make deps)"
	}
	if out, err := exec.Command(docker, "info").CombinedOutput(); err != nil {
		return fmt.Sprintf("no dockerd answers `docker info` (start one with hack/services.sh): %v: %s", err, firstLine(out))
	}
	if out, err := exec.Command(docker, "image", "inspect", "busybox:latest").CombinedOutput(); err != nil {
		return fmt.Sprintf("dockerd has no busybox:latest (hack/services.sh loads it): %v: %s", err, firstLine(out))
	}
	return ""
}

func podmanMissing() string {
	p, err := exec.LookPath("podman")
	if err != nil {
		return "no podman (apt-get install podman, or make deps)"
	}
	if out, err := exec.Command(p, "image", "exists", "docker.io/library/busybox:latest").CombinedOutput(); err != nil {
		return fmt.Sprintf("podman has no docker.io/library/busybox:latest (hack/services.sh loads it): %v: %s", err, firstLine(out))
	}
	return ""
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}
