// Package bench holds the benchmark scripts (bench.sh, runtime.sh, registry.sh, ab.sh, rootless.sh, scale.sh) and, here, the
// tests that keep them honest (issue 12): a benchmark whose timed command fails must say so and exit
// non-zero, never report the failure as a time; and every figure docs/performance.md quotes must come
// from a result file committed under bench/results/.
package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// runScript runs bench/<name> with bash and env added to the environment; it returns the exit
// status, stdout and stderr.
func runScript(t *testing.T, name string, env ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command("bash", name)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("bash %s: %v", name, err)
	}
	return code, stdout.String(), stderr.String()
}

// noResults fails the test if dir holds any file: a failed bench must write no result.
func noResults(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		t.Errorf("a failed bench left the result file %s:\n%s", e.Name(), b)
	}
}

// timeRow matches a table row of runtime.sh that carries a time.
var timeRow = regexp.MustCompile(`(?m)^\| (hoist|docker|podman|runc) [^|]*\| [0-9]+ \|`)

// TestRuntimeBenchFailsOnAFailedCommand runs bench/runtime.sh with stand-ins for the tools (no
// root, no dockerd needed): when all succeed it writes a result; when a timed command fails (docker
// run, or hoist run after its untimed warm-up) it exits non-zero, names the command, and leaves no
// result file and no time in its output.
func TestRuntimeBenchFailsOnAFailedCommand(t *testing.T) {
	bin := t.TempDir()
	ok := script(t, bin, "ok", "exit 0")
	fail := script(t, bin, "fail", "echo 'something broke' >&2; exit 1")
	// hoist that passes its untimed set-up (pull, tag, the first run) and fails every later run.
	warm := filepath.Join(t.TempDir(), "warm")
	flaky := script(t, bin, "hoist-flaky", `case " $* " in
*" run "*) if [ -e `+warm+` ]; then echo 'run failed' >&2; exit 1; fi; touch `+warm+` ;;
esac
exit 0`)
	// podman and runc come from PATH.
	path := t.TempDir()
	script(t, path, "podman", "exit 0")
	script(t, path, "runc", "exit 0")
	pathEnv := "PATH=" + path + ":" + os.Getenv("PATH")

	results := t.TempDir()
	code, stdout, stderr := runScript(t, "runtime.sh", "BENCH_RUNS=1", "HOIST="+ok, "DOCKER="+ok, pathEnv,
		"BENCH_RESULTS="+results)
	if code != 0 {
		t.Fatalf("runtime.sh with tools that all succeed: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(results, "runtime-*.md"))
	if len(files) != 1 {
		t.Fatalf("a successful runtime.sh wrote %d result files, want 1", len(files))
	}
	if b, _ := os.ReadFile(files[0]); !timeRow.Match(b) {
		t.Fatalf("the result file has no time row:\n%s", b)
	}

	for _, c := range []struct{ name, hoist, docker, failed string }{
		{"docker fails", ok, fail, fail + " run --rm"},
		{"hoist fails", flaky, ok, "hoist --root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			results := t.TempDir()
			os.Remove(warm)
			code, stdout, stderr := runScript(t, "runtime.sh", "BENCH_RUNS=1", "HOIST="+c.hoist,
				"DOCKER="+c.docker, pathEnv, "BENCH_RESULTS="+results)
			if code == 0 {
				t.Errorf("runtime.sh exited 0 although a timed command failed\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			if !strings.Contains(stderr, "FAILED: ") || !strings.Contains(stderr, c.failed) {
				t.Errorf("stderr does not name the failed command (%q):\n%s", c.failed, stderr)
			}
			if timeRow.MatchString(stdout) {
				t.Errorf("stdout reports a time although the bench failed:\n%s", stdout)
			}
			noResults(t, results)
		})
	}
}

// TestRegistryBenchFailsOnAFailedCommand runs bench/registry.sh with a hoist stand-in whose push
// fails (its untimed set-up succeeds) against a test registry holding library/busybox (the per-run
// registries it starts are real docker-registry instances): it must exit non-zero naming the push and
// write no result file.
func TestRegistryBenchFailsOnAFailedCommand(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Registry)
	reg := registryWithBusybox(t)
	bin := t.TempDir()
	ok := script(t, bin, "docker", "exit 0")
	// save writes an empty tar where -o says; images prints a size; push fails.
	hoist := script(t, bin, "hoist", `out=
while [ $# -gt 0 ]; do
  case $1 in
  -o) out=$2; shift ;;
  push) echo 'push failed' >&2; exit 1 ;;
  images) echo 'REPOSITORY TAG ID CREATED SIZE'; echo 'bench/big 1 x now 1MB' ;;
  esac
  shift
done
[ -z "$out" ] || tar -cf "$out" -T /dev/null
exit 0`)
	// skopeo is only looked for (the push before its first use fails): a stand-in in PATH.
	path := t.TempDir()
	script(t, path, "skopeo", "exit 0")
	refenv := t.TempDir()
	if err := os.MkdirAll(filepath.Join(refenv, "samples", "bigcontext", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	results := t.TempDir()
	code, stdout, stderr := runScript(t, "registry.sh", "BENCH_RUNS=1", "HOIST="+hoist, "DOCKER="+ok,
		"BENCH_REGISTRY="+reg, "REFENV="+refenv, "BENCH_DIR="+filepath.Join(t.TempDir(), "b"),
		"BENCH_RESULTS="+results, "PATH="+path+":"+os.Getenv("PATH"))
	if code == 0 {
		t.Errorf("registry.sh exited 0 although hoist push failed\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if !strings.Contains(stderr, "failed: ") || !strings.Contains(stderr, " push -q bench/big:1 ") {
		t.Errorf("stderr does not name the failed push:\n%s", stderr)
	}
	if strings.Contains(stdout, "| push-cold |") {
		t.Errorf("stdout reports a time although the bench failed:\n%s", stdout)
	}
	noResults(t, results)
}

// TestBuildBenchRecordsAFailureNotATime sources bench/bench.sh (its main does not run then) and
// puts a failing and a succeeding command through its timing helpers: the failure is counted as a
// failure, the table cell says FAIL and no ratio is computed from it.
func TestBuildBenchRecordsAFailureNotATime(t *testing.T) {
	dir := t.TempDir()
	sh := `source ./bench.sh
set +e
mkdir -p "$LOGS"
timed "$LOGS/a" true; record s hoist $? "$LOGS/a"
timed "$LOGS/b" sh -c 'echo broken; exit 3'; rc=$?; record s hoist $rc "$LOGS/b"
timed "$LOGS/c" true; record s docker $? "$LOGS/c"
echo "rc=$rc"
echo "cell=$(cell s hoist t %.2f)"
echo "docker=$(cell s docker t %.2f)"
echo "ratio=$(ratio s t hoist docker)"
echo "failed=$FAILED"
echo "times=$(cat "$DATA/s/hoist.t" | wc -l)"
`
	cmd := exec.Command("bash", "-c", sh)
	cmd.Env = append(os.Environ(), "BENCH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"rc=3\n", "cell=FAIL (1/2 runs)\n", "ratio=-\n", "failed=1\n", "times=1\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`docker=[0-9.]+ \(`).Match(out) {
		t.Errorf("the succeeding command has no time:\n%s", out)
	}
}

// resultPath is a result file cited in docs.
var resultPath = regexp.MustCompile(`bench/results/[A-Za-z0-9._-]+\.md`)

// TestDocsCiteCommittedResults: every bench/results/... file named in the docs exists, and
// docs/performance.md names at least one (its figures come from committed result files).
func TestDocsCiteCommittedResults(t *testing.T) {
	docs, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, "../README.md", "README.md")
	cited := 0
	for _, d := range docs {
		b, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resultPath.FindAllString(string(b), -1) {
			if filepath.Base(d) == "performance.md" {
				cited++
			}
			if _, err := os.Stat(filepath.Join("..", p)); err != nil {
				t.Errorf("%s cites %s, which is not committed: %v", d, p, err)
			}
		}
	}
	if cited == 0 {
		t.Error("docs/performance.md cites no bench/results/ file")
	}
}

// TestRootlessBenchFailsOnAFailedCommand runs bench/rootless.sh with a hoist stand-in (as root and
// as the rootless user): when all succeeds it writes a result with a ratio; when a timed rootless
// run fails after the untimed warm-up, it exits non-zero, names it and writes no result file.
func TestRootlessBenchFailsOnAFailedCommand(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Rootless)
	dir, err := os.MkdirTemp("", "rlbench-honesty-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	saveO := `prev=; for a; do [ "$prev" = -o ] && : > "$a"; prev=$a; done` // save -o writes a file
	ok := script(t, dir, "ok", saveO+"\nexit 0")
	// A hoist whose runs as the rootless user fail once each user has done its untimed warm-up run.
	flaky := script(t, dir, "flaky", saveO+`
case " $* " in
*" run "*) if [ "$(id -u)" != 0 ]; then
  if [ -e `+dir+`/warm ]; then echo 'run failed' >&2; exit 1; fi; touch `+dir+`/warm; fi ;;
esac
exit 0`)
	var rowRe = regexp.MustCompile(`(?m)^\| no-op rebuild \| [0-9]+ \| [0-9]+ \| [0-9.]+ \|`)
	results := t.TempDir()
	code, stdout, stderr := runScript(t, "rootless.sh", "BENCH_RUNS=6", "HOIST="+ok, "BENCH_RESULTS="+results)
	if code != 0 || !rowRe.MatchString(stdout) {
		t.Fatalf("rootless.sh with a hoist that succeeds: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(results, "rootless-*.md")); len(files) != 1 {
		t.Fatalf("a successful rootless.sh wrote %d result files, want 1", len(files))
	}
	results = t.TempDir()
	code, stdout, stderr = runScript(t, "rootless.sh", "BENCH_RUNS=6", "HOIST="+flaky, "BENCH_RESULTS="+results)
	if code == 0 || !strings.Contains(stderr, "FAILED: ") || !strings.Contains(stderr, "run --rm busybox true") {
		t.Errorf("rootless.sh with a failing rootless run: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout, "| run --rm busybox true |") {
		t.Errorf("stdout reports a time although the run failed:\n%s", stdout)
	}
	noResults(t, results)
}

// TestScaleBenchFailsOnAFailedCommand runs bench/scale.sh (SCALE_QUICK=1, the no-op scenario) with
// stand-ins for hoist and docker against a test registry holding library/busybox: when all succeed it
// writes a result with the no-op table; when hoist's or docker's first timed build fails (after their
// untimed warm-ups) it exits non-zero naming the build, and writes no result file.
func TestScaleBenchFailsOnAFailedCommand(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Registry)
	reg := registryWithBusybox(t)
	bin := t.TempDir()
	// standIn: a tool that makes its --root, whose build writes --iidfile and fails from its (failAt)th
	// build on (0: never);
	// the quick no-op scenario makes three untimed warm-up builds per tool, so 4 is the first timed one.
	standIn := func(name string, failAt int) string {
		count := filepath.Join(t.TempDir(), "builds")
		return script(t, bin, name, `prev=; for a; do [ "$prev" = --root ] && mkdir -p "$a"; prev=$a; done
case " $* " in
*" build "*)
  echo x >>`+count+`
  if [ `+strconv.Itoa(failAt)+` -gt 0 ] && [ "$(wc -l <`+count+`)" -ge `+strconv.Itoa(failAt)+` ]; then echo 'build failed' >&2; exit 1; fi
  prev=; for a; do [ "$prev" = --iidfile ] && echo sha256:0 >"$a"; prev=$a; done ;;
esac
exit 0`)
	}
	path := t.TempDir()
	script(t, path, "skopeo", "exit 0") // looked for only: the no-op scenario does not push
	cache := t.TempDir()                // the generated contexts, shared by the runs (generated once)
	run := func(hoist, docker string) (int, string, string, string) {
		results := t.TempDir()
		code, stdout, stderr := runScript(t, "scale.sh", "SCALE_QUICK=1", "SCALE_SCENARIOS=noop", "BENCH_RUNS=1",
			"HOIST="+hoist, "DOCKER="+docker, "BENCH_REGISTRY="+reg, "SCALE_CACHE="+cache,
			"BENCH_DIR="+filepath.Join(t.TempDir(), "b"), "BENCH_RESULTS="+results,
			"PATH="+path+":"+os.Getenv("PATH"))
		return code, stdout, stderr, results
	}
	noopRow := regexp.MustCompile(`(?m)^\| 1k \| [0-9]+ \| [0-9]+ \|`)

	code, stdout, stderr, results := run(standIn("hoist-ok", 0), standIn("docker-ok", 0))
	if code != 0 || !noopRow.MatchString(stdout) {
		t.Fatalf("scale.sh with tools that succeed: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(results, "scale-quick-*.md")); len(files) != 1 {
		t.Fatalf("a successful scale.sh wrote %d result files, want 1", len(files))
	}

	for _, c := range []struct{ name, hoist, docker, failed string }{
		{"hoist fails", standIn("hoist-flaky", 4), standIn("docker", 0), "/b/hoist --root "}, // the copy scale.sh runs
		{"docker fails", standIn("hoist", 0), standIn("docker-flaky", 4), "docker-flaky build "},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr, results := run(c.hoist, c.docker)
			if code == 0 {
				t.Errorf("scale.sh exited 0 although a timed build failed\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			if !strings.Contains(stderr, "FAILED (exit 1): ") || !strings.Contains(stderr, c.failed) ||
				!strings.Contains(stderr, " build ") {
				t.Errorf("stderr does not name the failed build (%q):\n%s", c.failed, stderr)
			}
			if noopRow.MatchString(stdout) {
				t.Errorf("stdout reports a time although the bench failed:\n%s", stdout)
			}
			noResults(t, results)
		})
	}
}

// registryWithBusybox starts a test registry holding a (random) library/busybox:latest, which the
// bench scripts check for before they start, and returns its address.
func registryWithBusybox(t *testing.T) string {
	t.Helper()
	reg := testutil.Registry(t)
	ref, err := name.ParseReference(reg+"/library/busybox:latest", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	return reg
}
