package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ch3Step is one command of the docker book's chapter 3 ("Getting started with Docker"), run on both
// engines and compared as a user would see it.
type ch3Step struct {
	label string
	args  []string // {P} is the engine's name prefix
	stdin string
	// what is compared besides the exit status and whether stderr is empty:
	// "text": stdout, normalized (ids, times, sizes, the name prefix);
	// "header": a table's header line and number of rows;
	// "first": a table's header line and first row, normalized;
	// "exit": nothing else.
	kind string
	// before, when set, runs first on the engine (a wait for a state both must reach).
	before func(t *testing.T, e engine)
}

// ch3Intentional are the steps whose output differs from docker's on purpose, with the reason
// (docs/compatibility.md lists each). A listed step that no longer differs fails the test, so the
// list stays true.
var ch3Intentional = map[string]string{}

// The chapter-3 command sequence against dockerd and against hoist: per command the exit status,
// the table headers and columns, and the shape of the output (ids, names, status words; ids and
// times normalized) must match, or be listed in ch3Intentional.
func TestChapter3LikeDocker(t *testing.T) {
	root := containerRoot(t)
	d, h := dockerEngine(t), hoistEngine(root)
	t.Cleanup(func() { _ = exec.Command(dockerBin, "rmi", "-f", d.names+"base:1", d.names+"img:1").Run() })
	differed := map[string]bool{}
	for _, s := range chapter3Steps() {
		want, dres := ch3Run(t, d, s)
		got, hres := ch3Run(t, h, s)
		if want == got {
			continue
		}
		if reason, ok := ch3Intentional[s.label]; ok {
			differed[s.label] = true
			t.Logf("%s: intentional difference (%s):\ndocker: %s\nhoist:  %s", s.label, reason, want, got)
			continue
		}
		t.Errorf("%s (%q): hoist differs from docker:\ndocker: %s\nhoist:  %s\n(docker's stderr %q, hoist's %q)", s.label, s.args, want, got, dres.stderr, hres.stderr)
	}
	for label := range ch3Intentional {
		if !differed[label] {
			t.Errorf("%s is listed as an intentional difference but hoist now matches docker: remove it (and from docs/compatibility.md)", label)
		}
	}
}

func chapter3Steps() []ch3Step {
	loop := "while true; do echo hello world; sleep 1; done"
	logged := func(t *testing.T, e engine) { // the daemon has logged a line
		waitFor(t, 2*time.Minute, e.name+" log line", func() bool {
			return strings.Contains(e.run(t, "", "logs", e.names+"dave").stdout, "hello world")
		})
	}
	restarted := func(name, want string) func(t *testing.T, e engine) {
		return func(t *testing.T, e engine) {
			e.waitState(t, 2*time.Minute, e.names+name, "{{.State.Status}} {{.RestartCount}}", want)
		}
	}
	return []ch3Step{
		{label: "run -d --name", args: []string{"run", "-d", "--name", "{P}dave", "--network", "none", "busybox", "sh", "-c", loop}, kind: "text"},
		{label: "ps", args: []string{"ps", "--filter", "name={P}"}, kind: "text"},
		{label: "logs --tail 1", args: []string{"logs", "--tail", "1", "{P}dave"}, kind: "text", before: logged},
		{label: "top", args: []string{"top", "{P}dave"}, kind: "first"}, // the loop's sleep comes and goes
		{label: "inspect -f running", args: []string{"inspect", "-f", "{{.State.Running}} {{.Name}} {{.Config.Image}} {{.State.Status}}", "{P}dave"}, kind: "text"},
		{label: "inspect -f ip", args: []string{"inspect", "--format", "{{.NetworkSettings.IPAddress}}", "{P}dave"}, kind: "text"},
		{label: "exec", args: []string{"exec", "{P}dave", "sh", "-c", "echo in-$((6*7))"}, kind: "text"},
		{label: "exec -d", args: []string{"exec", "-d", "{P}dave", "touch", "/tmp/x"}, kind: "text"},
		{label: "stats --no-stream", args: []string{"stats", "--no-stream", "{P}dave"}, kind: "header"},
		{label: "rm running", args: []string{"rm", "{P}dave"}, kind: "exit"},
		{label: "stop", args: []string{"stop", "-t", "1", "{P}dave"}, kind: "text"},
		{label: "ps -a", args: []string{"ps", "-a", "--filter", "name={P}"}, kind: "text"},
		{label: "start", args: []string{"start", "{P}dave"}, kind: "text"},
		{label: "restart", args: []string{"restart", "-t", "1", "{P}dave"}, kind: "text"},
		{label: "ps -q", args: []string{"ps", "-q", "--filter", "name={P}"}, kind: "text"},
		{label: "create", args: []string{"create", "--name", "{P}short", "--network", "none", "busybox", "sh", "-c", "echo one; sleep 5; echo two; exit 4"}, kind: "text"},
		{label: "ps -l", args: []string{"ps", "-l", "--filter", "name={P}"}, kind: "text"},
		{label: "ps -n 2", args: []string{"ps", "-n", "2", "--filter", "name={P}"}, kind: "text"},
		{label: "start -a", args: []string{"start", "-a", "{P}short"}, kind: "text"},
		{label: "logs -f", args: []string{"logs", "-f", "{P}short"}, kind: "text"},
		{label: "attach exited", args: []string{"attach", "{P}short"}, kind: "exit"},
		{label: "attach", args: []string{"attach", "--no-stdin", "{P}short"}, kind: "exit", before: func(t *testing.T, e engine) {
			// Started right before (each engine's attach waits for its container to exit).
			if res := e.run(t, "", "start", e.names+"short"); res.code != 0 {
				t.Fatalf("%s start: %+v", e.name, res)
			}
		}},
		{label: "ps -a exited", args: []string{"ps", "-a", "--filter", "name={P}short", "--format", "{{.Names}} {{.Status}}"}, kind: "text"},
		{label: "run --rm -i sh -c", args: []string{"run", "--rm", "-i", "--network", "none", "busybox", "sh", "-c", "tr a-z A-Z; exit 3"}, stdin: "hello\n", kind: "text"},
		{label: "run --restart always", args: []string{"run", "-d", "--name", "{P}always", "--network", "none", "--restart", "always", "busybox", "sh", "-c", "exit 1"}, kind: "text"},
		{label: "inspect restart always", args: []string{"inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.State.Running}}", "{P}always"}, kind: "text",
			before: func(t *testing.T, e engine) {
				waitFor(t, 2*time.Minute, e.name+" restarts", func() bool {
					n, _ := strconv.Atoi(strings.TrimSpace(e.run(t, "", "inspect", "-f", "{{.RestartCount}}", e.names+"always").stdout))
					return n >= 2
				})
			}},
		{label: "run --restart on-failure:2", args: []string{"run", "-d", "--name", "{P}fail", "--network", "none", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 2"}, kind: "text"},
		{label: "inspect on-failure", args: []string{"inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}} {{.State.ExitCode}}", "{P}fail"}, kind: "text",
			before: restarted("fail", "exited 2")},
		{label: "rm -f", args: []string{"rm", "-f", "{P}dave", "{P}always"}, kind: "text"},
		{label: "rm", args: []string{"rm", "{P}short", "{P}fail"}, kind: "text"},
		{label: "rm -f missing", args: []string{"rm", "-f", "{P}nosuch"}, kind: "exit"},
		{label: "rm missing", args: []string{"rm", "{P}nosuch"}, kind: "exit"},
		{label: "ps -a empty", args: []string{"ps", "-a", "--filter", "name={P}"}, kind: "text"},
		{label: "tag", args: []string{"tag", "{P}base:1", "{P}img:1"}, kind: "text", before: func(t *testing.T, e engine) {
			// An image built now by each engine (the engines' busybox images differ in age).
			dir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nLABEL chapter=3\n"})
			if res := e.run(t, "", "build", "-q", "-t", e.names+"base:1", dir); res.code != 0 {
				t.Fatalf("%s build: %+v", e.name, res)
			}
		}},
		{label: "images", args: []string{"images", "{P}img"}, kind: "text"},
		{label: "images -q", args: []string{"images", "-q", "{P}img"}, kind: "text"},
		{label: "rmi", args: []string{"rmi", "{P}img:1"}, kind: "text"},
		{label: "rmi missing", args: []string{"rmi", "{P}img:1"}, kind: "exit"},
	}
}

// ch3Run runs s on e and returns what is compared, as one string, and the result itself.
func ch3Run(t *testing.T, e engine, s ch3Step) (string, result) {
	t.Helper()
	if s.before != nil {
		s.before(t, e)
	}
	args := make([]string, len(s.args))
	for i, a := range s.args {
		args[i] = strings.ReplaceAll(a, "{P}", e.names)
	}
	res := e.run(t, s.stdin, args...)
	view := fmt.Sprintf("exit %d, stderr empty %v", res.code, res.stderr == "")
	switch s.kind {
	case "text":
		view += ", stdout " + strconv.Quote(ch3Normalize(res.stdout, e.names))
	case "first":
		lines := strings.SplitN(res.stdout, "\n", 3)
		view += ", first lines " + strconv.Quote(ch3Normalize(strings.Join(lines[:min(2, len(lines))], "\n"), e.names))
	case "header":
		lines := strings.Split(strings.TrimRight(res.stdout, "\n"), "\n")
		view += fmt.Sprintf(", header %q, %d rows", ch3Normalize(lines[0], e.names), len(lines)-1)
	}
	return view, res
}

var ch3Patterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`sha256:[0-9a-f]{64}`), "<DIGEST>"},
	{regexp.MustCompile(`\b[0-9a-f]{64}\b`), "<ID>"},
	{regexp.MustCompile(`\b[0-9a-f]{12}\b`), "<ID12>"},
	{regexp.MustCompile(`(Less than a second|About a minute|About an hour|an hour|a minute|\d+ (second|minute|hour|day|week|month|year)s?)`), "<T>"},
	{regexp.MustCompile(`\b\d+(\.\d+)?([kKMG]i?)?B\b`), "<SIZE>"},
	{regexp.MustCompile(`\b\d\d:\d\d(:\d\d)?\b`), "<CLOCK>"},
	{regexp.MustCompile(`\b\d+\.\d+%`), "<PCT>"},
	{regexp.MustCompile(`\b(PID|PPID|pid)?\d{2,}\b`), "<N>"},
	{regexp.MustCompile(` {2,}`), " | "},                      // table columns, whatever their widths
	{regexp.MustCompile(`\b\d+ \| <CLOCK>`), "<C> | <CLOCK>"}, // top's C (CPU use) before STIME
}

// ch3Normalize replaces what differs from run to run (ids, times, sizes, pids, column widths, the
// engine's name prefix) with placeholders.
func ch3Normalize(s, prefix string) string {
	s = strings.ReplaceAll(s, prefix, "<P>")
	for _, p := range ch3Patterns {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return s
}
