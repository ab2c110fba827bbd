package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// The rootless pass. With HOIST_TEST_AS=hoistci (prereq.RootlessUser) in the environment, every
// hoist command a test runs through hoistCmd or hoist runs as that ordinary user: the test binary
// (which is hoist) copied where the user may run it, with the user's own home, XDG directories and
// rootless server per test, on a hoist root the user owns (newRoot). The test itself stays root, so
// it can still watch the host (its sysctls, kernel log, processes). `make test` runs the tests of
// rootlessPassTests a second time this way. Nothing runs as root by mistake: a hoist command on a
// root that newRoot did not make for the user panics, and a test whose root saw no rootless server
// fails. Where rootless hoist differs by design (no cgroups: limits fail, commit needs
// --pause=false; --network host is the rootless namespace's), the test asserts the rootless
// behaviour (rootlessPass).
const testAsEnv = "HOIST_TEST_AS"

// rootlessPassTests is the rootless pass's -run pattern when none is given (TestMain): the
// container lifecycle, the hoist half of the sandbox escape suite, and TestRootlessPassRuns.
const rootlessPassTests = "^(TestRunForeground|TestRunNameInUseAndMissingCommand|TestLifecycle|TestDetachedHTTPD|" +
	"TestLogsFollowAndExec|TestRestartOnFailure|TestMonitorKilled|TestResourceLimits|TestCpAndCommit|" +
	"TestRestartAndLogsSince|TestStopSignalTimeoutPublishAllExecDetach|TestEscapeHoist.*|TestRootlessPassRuns)$"

// rootlessPass reports whether this test binary runs the rootless pass.
func rootlessPass() bool { return os.Getenv(testAsEnv) != "" }

// checkTestAs validates HOIST_TEST_AS before any test runs.
func checkTestAs() error {
	if as := os.Getenv(testAsEnv); as != "" && as != prereq.RootlessUser {
		return fmt.Errorf("%s=%s: the rootless pass runs hoist as %s only (hack/deps.sh creates it)", testAsEnv, as, prereq.RootlessUser)
	}
	return nil
}

var rootlessRoots sync.Map // hoist root → *testutil.RootlessUser

// newRootlessRoot is newRoot in the rootless pass: a root holding busybox that the user owns, in
// a directory the user can reach, served by a rootless server of its own.
func newRootlessRoot(t *testing.T) string {
	t.Helper()
	u := testutil.NewRootlessUser(t)
	root := filepath.Join(u.Dir, "root")
	testutil.NewRootIn(t, root)
	u.Own(t, root)
	rootlessRoots.Store(root, u)
	t.Cleanup(func() {
		defer rootlessRoots.Delete(root)
		if u.ServerPid() == 0 {
			t.Errorf("rootless pass: no rootless server serves %s: this test's hoist did not run as %s", root, prereq.RootlessUser)
		}
	})
	return root
}

// rootlessUserOf is the user whose hoist serves root in the rootless pass.
func rootlessUserOf(root string) *testutil.RootlessUser {
	v, ok := rootlessRoots.Load(root)
	if !ok {
		panic(fmt.Sprintf("%s=%s: hoist would run as root on %s, a root that newRoot did not make for the user",
			testAsEnv, os.Getenv(testAsEnv), root))
	}
	return v.(*testutil.RootlessUser)
}

// rootlessCmd is hoistCmd in the rootless pass.
func rootlessCmd(root string, args ...string) *exec.Cmd {
	u := rootlessUserOf(root)
	cmd := exec.Command(u.Exe, append([]string{"--root", root}, args...)...)
	cmd.Dir = u.Home()
	cmd.Env = u.Env()
	u.AsUser(cmd)
	return cmd
}

// shareWithHoist gives a file or tree the test made as hoist's input or output to the user in the
// rootless pass (t.TempDir is root's, mode 0700); otherwise it does nothing.
func shareWithHoist(t *testing.T, path string) {
	t.Helper()
	if !rootlessPass() {
		return
	}
	u, err := user.Lookup(prereq.RootlessUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	testutil.GiveToUser(t, path, uid, gid)
}

// hoistTempDir is t.TempDir shared with hoist (shareWithHoist).
func hoistTempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	shareWithHoist(t, d)
	return d
}

// mountinfoOf is the mount table hoist's mounts for root land in: the rootless server's mount
// namespace in the rootless pass, this process's otherwise.
func mountinfoOf(root string) string {
	if v, ok := rootlessRoots.Load(root); ok {
		if pid := v.(*testutil.RootlessUser).ServerPid(); pid > 0 {
			return "/proc/" + strconv.Itoa(pid) + "/mountinfo"
		}
	}
	return "/proc/self/mountinfo"
}

// netDevOf lists the network interfaces of the namespace hoist's containers of root are attached
// from: the rootless server's in the rootless pass, nil otherwise (use /sys/class/net).
func netDevOf(root string) ([]string, bool) {
	v, ok := rootlessRoots.Load(root)
	if !ok {
		return nil, false
	}
	pid := v.(*testutil.RootlessUser).ServerPid()
	if pid == 0 {
		return nil, true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return nil, true
	}
	var names []string
	for _, line := range strings.Split(string(b), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok {
			names = append(names, strings.TrimSpace(name))
		}
	}
	return names, true
}

// TestRootlessPassRuns proves the switch itself: in the rootless pass a container's processes
// belong to the user outside (the kernel's view of the container's PID 1 from here), and the
// files hoist writes in its root are the user's; outside the pass they are root's.
func TestRootlessPassRuns(t *testing.T) {
	root := containerRoot(t)
	id := strings.TrimSpace(hoist(t, root, "", "run", "-d", "--network", "none", "busybox", "sleep", "30").stdout)
	pid := strings.TrimSpace(hoist(t, root, "", "inspect", "--format", "{{.State.Pid}}", id).stdout)
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatalf("the container's PID 1 (%q): %v", pid, err)
	}
	want := "0"
	if rootlessPass() {
		u, err := user.Lookup(prereq.RootlessUser)
		if err != nil {
			t.Fatal(err)
		}
		want = u.Uid
	}
	if uid := strings.Fields(statusField(string(status), "Uid")); len(uid) == 0 || uid[0] != want {
		t.Errorf("the container's PID 1 runs as host uid %v, want %s", uid, want)
	}
	fi, err := os.Stat(filepath.Join(root, "containers", id))
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); strconv.Itoa(int(st.Uid)) != want {
		t.Errorf("hoist wrote its container dir as host uid %d, want %s", st.Uid, want)
	}
}
