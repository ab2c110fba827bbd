package testutil

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// RootlessUser runs the test binary, which must act as hoist with HOIST_TEST_CLI=1 (see
// cmd/hoist/main_test.go), as the unprivileged test user prereq.RootlessUser: with its own home,
// XDG data and runtime directories, and so its own rootless server, which Cleanup ends together
// with every process of its user namespace.
type RootlessUser struct {
	// Dir is a directory the user can reach (0755, owned by root): the user's files go under Home;
	// the test may put inputs the user reads here.
	Dir string
	// Exe is the copy of the test binary the user runs (t.TempDir's parents are root's, mode 0700).
	Exe      string
	UID, GID int
	// Path is the PATH of the user's commands.
	Path string
}

// NewRootlessUser sets up the user's directories for one test; they and the user's rootless
// server are gone when the test ends. The test needs root (it switches users) and the rootless
// prerequisites.
func NewRootlessUser(t testing.TB) *RootlessUser {
	t.Helper()
	prereq.Require(t, prereq.Root|prereq.Busybox|prereq.Rootless)
	u, err := user.Lookup(prereq.RootlessUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "hoist-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	r := &RootlessUser{Dir: dir, Exe: filepath.Join(dir, "hoist"), UID: uid, GID: gid, Path: "/usr/local/bin:/usr/bin:/bin"}
	t.Cleanup(r.Cleanup)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.Exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(r.Home(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(r.Home(), uid, gid); err != nil {
		t.Fatal(err)
	}
	return r
}

// Home is the user's home directory (and the working directory of its commands).
func (r *RootlessUser) Home() string { return filepath.Join(r.Dir, "home") }

// DataRoot is the user's default hoist root, $XDG_DATA_HOME/hoist.
func (r *RootlessUser) DataRoot() string { return filepath.Join(r.Home(), "data", "hoist") }

// RuntimeDir is the user's hoist runtime directory, $XDG_RUNTIME_DIR/hoist.
func (r *RootlessUser) RuntimeDir() string { return filepath.Join(r.Home(), "run", "hoist") }

// Env is the whole environment of the user's commands.
func (r *RootlessUser) Env() []string {
	return []string{"HOIST_TEST_CLI=1", "HOME=" + r.Home(), "PATH=" + r.Path, "LANG=C",
		"XDG_DATA_HOME=" + filepath.Join(r.Home(), "data"), "XDG_RUNTIME_DIR=" + filepath.Join(r.Home(), "run")}
}

// Command returns hoist args as the user, in its home, with its environment.
func (r *RootlessUser) Command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.Exe, args...)
	cmd.Dir = r.Home()
	cmd.Env = r.Env()
	r.AsUser(cmd)
	return cmd
}

// AsUser makes cmd run as the user (no supplementary groups).
func (r *RootlessUser) AsUser(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(r.UID), Gid: uint32(r.GID), Groups: []uint32{}}
}

// Own gives path (a file or directory tree the test made) to the user, so that its hoist may read
// and write it, and makes its parent directories up to the temp dir traversable.
func (r *RootlessUser) Own(t testing.TB, path string) {
	t.Helper()
	GiveToUser(t, path, r.UID, r.GID)
}

// GiveToUser chowns the tree path to uid:gid and makes its parents below os.TempDir() traversable
// by everyone (t.TempDir's directories are mode 0700): a test run as root shares its inputs with
// the hoist it runs as another user.
func GiveToUser(t testing.TB, path string, uid, gid int) {
	t.Helper()
	err := filepath.Walk(path, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, uid, gid); err != nil || fi.Mode()&os.ModeSymlink != 0 {
			return err
		}
		return os.Chmod(p, fi.Mode()) // chown clears the setuid and setgid bits
	})
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Dir(path); strings.HasPrefix(d, tmp+"/"); d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o111); err != nil {
			t.Fatal(err)
		}
	}
}

// ServerPid is the pid of the user's running rootless server, 0 when none runs.
func (r *RootlessUser) ServerPid() int {
	b, err := os.ReadFile(filepath.Join(r.RuntimeDir(), "rootless.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// Cleanup kills every process of the server's user namespace (detached containers, their
// monitors), then the server (its port helper and pasta follow it), and removes Dir.
func (r *RootlessUser) Cleanup() {
	if pid := r.ServerPid(); pid > 0 {
		ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/user")
		if err == nil {
			procs, _ := filepath.Glob("/proc/[0-9]*")
			for _, p := range procs {
				other, _ := strconv.Atoi(filepath.Base(p))
				if l, err := os.Readlink(p + "/ns/user"); err == nil && l == ns && other != pid {
					_ = syscall.Kill(other, syscall.SIGKILL)
				}
			}
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		for i := 0; i < 250 && syscall.Kill(pid, 0) == nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	_ = os.RemoveAll(r.Dir)
}
