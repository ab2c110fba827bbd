package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/cmd/hoist/commands"
	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/container"
)

// The test binary doubles as the hoist binary: with HOIST_TEST_CLI=1 it runs the CLI, so tests exercise
// the real command line, exit codes, signals and sandbox re-exec without building anything first.
func TestMain(m *testing.M) {
	run.MaybeInit()
	container.MaybeMonitor()
	rootless.MaybeServe()
	rootless.MaybeGitProxy()
	if os.Getenv("HOIST_TEST_CLI") == "1" { // the test binary is hoist: main's sequence
		if rootless.Needed() && commands.NeedsNamespace(os.Args[1:]) {
			os.Exit(rootless.Forward(os.Args[1:]))
		}
		os.Exit(commands.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	if err := checkTestAs(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	flag.Parse()
	if rootlessPass() && flag.Lookup("test.run").Value.String() == "" {
		// `HOIST_TEST_AS=hoistci go test ./cmd/hoist` is the rootless pass (make test).
		_ = flag.Set("test.run", rootlessPassTests)
	}
	os.Exit(m.Run())
}

// hoistCmd returns an exec.Cmd running the CLI on root (as the rootless user in the rootless
// pass, see rootlesspass_test.go).
func hoistCmd(root string, args ...string) *exec.Cmd {
	if rootlessPass() {
		return rootlessCmd(root, args...)
	}
	cmd := exec.Command(os.Args[0], append([]string{"--root", root}, args...)...)
	cmd.Env = append(os.Environ(), "HOIST_TEST_CLI=1")
	return cmd
}

// hoistTimeout bounds every hoist command a test runs: a hung command is killed (and the test fails)
// rather than hanging the whole test binary.
const hoistTimeout = 3 * time.Minute

type result struct {
	stdout, stderr string
	code           int
}

func hoist(t *testing.T, root string, stdin string, args ...string) result {
	t.Helper()
	return runCmd(t, hoistCmd(root, args...), stdin)
}

// writeContext makes a build context from name → content ("" content with a trailing / is a dir).
func writeContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shareWithHoist(t, dir)
	return dir
}

// leftovers counts what a finished hoist must never leave behind.
type leftovers struct {
	storeTemp, snapTemp, builds, mounts, inits int
}

func countLeftovers(t *testing.T, root string) leftovers {
	t.Helper()
	count := func(dir string) int {
		entries, _ := os.ReadDir(dir)
		return len(entries)
	}
	var l leftovers
	l.storeTemp = count(filepath.Join(root, "tmp"))
	l.snapTemp = count(filepath.Join(root, "snapshots", "tmp"))
	l.builds = count(filepath.Join(root, "builds"))
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		l.mounts = strings.Count(string(data), root)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if data, err := os.ReadFile(p); err == nil && bytes.Contains(data, []byte(run.InitArg)) &&
			bytes.Contains(data, []byte(os.Args[0])) {
			l.inits++
		}
	}
	return l
}

func (l leftovers) String() string {
	return fmt.Sprintf("store tmp=%d snapshot tmp=%d build dirs=%d mounts=%d sandbox processes=%d",
		l.storeTemp, l.snapTemp, l.builds, l.mounts, l.inits)
}

func newRoot(t *testing.T) string {
	t.Helper()
	prereq.Require(t, prereq.Root)
	if rootlessPass() {
		return newRootlessRoot(t)
	}
	root, _ := testutil.NewRoot(t)
	return root
}
