package builder_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/builder"
)

// keyCase builds a context once, changes one thing, and asks --explain about the step marked STEP.
type keyCase struct {
	name       string
	dockerfile string            // the step under test is the last one
	files      map[string]string // context files
	args       map[string]string // build args of the first build
	// change mutates the context dir (and may return a new Dockerfile) before the second, explained build.
	change     func(t *testing.T, dir string) string
	args2      map[string]string // build args of the second build (nil: same as args)
	moveTo     bool              // copy the context to a new directory for the second build
	wantRun    bool              // the last step must miss (its key changed)
	wantReason string            // substring of the explanation
}

// must fails the test when a set-up step of a case failed: a case whose change did not happen
// would pass for the wrong reason.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("setting up the case: %v", err)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func editFile(name, content string) func(*testing.T, string) string {
	return func(t *testing.T, dir string) string {
		writeFiles(t, dir, map[string]string{name: content})
		return ""
	}
}

func newDockerfile(df string) func(*testing.T, string) string {
	return func(*testing.T, string) string { return df }
}

// TestCacheKeyInputs: every input of a step changes its key, and nothing else does; the explanation
// names the first input that differs.
func TestCacheKeyInputs(t *testing.T) {
	const copyDF = "FROM busybox\nCOPY src/ /app/\n"
	srcFiles := map[string]string{"src/a.go": "a", "src/b.go": "b", "other.txt": "not copied", ".dockerignore": "src/ignored*\n"}
	const runDF = "FROM busybox\nARG V=1\nENV E=1\nUSER root\nWORKDIR /w\nRUN echo $V $E\n"
	tests := []keyCase{
		{name: "COPY: selected file content", dockerfile: copyDF, files: srcFiles, change: editFile("src/b.go", "B"), wantRun: true, wantReason: "src/b.go changed"},
		{name: "COPY: file added", dockerfile: copyDF, files: srcFiles, change: editFile("src/c.go", "c"), wantRun: true, wantReason: "src/c.go added"},
		{name: "COPY: file removed", dockerfile: copyDF, files: srcFiles, change: func(t *testing.T, d string) string { must(t, os.Remove(filepath.Join(d, "src/a.go"))); return "" }, wantRun: true, wantReason: "src/a.go removed"},
		{name: "COPY: mode", dockerfile: copyDF, files: srcFiles, change: func(t *testing.T, d string) string { must(t, os.Chmod(filepath.Join(d, "src/a.go"), 0o755)); return "" }, wantRun: true, wantReason: "src/a.go changed"},
		{name: "COPY: symlink target", dockerfile: copyDF, files: srcFiles, change: func(t *testing.T, d string) string {
			must(t, os.Symlink("a.go", filepath.Join(d, "src/l")))
			return ""
		}, wantRun: true, wantReason: "src/l added"},
		{name: "COPY: dest", dockerfile: copyDF, files: srcFiles, change: newDockerfile("FROM busybox\nCOPY src/ /other/\n"), wantRun: true, wantReason: "dest changed"},
		{name: "COPY: --chown", dockerfile: copyDF, files: srcFiles, change: newDockerfile("FROM busybox\nCOPY --chown=1:1 src/ /app/\n"), wantRun: true, wantReason: "chown changed"},
		{name: "COPY: --chmod", dockerfile: copyDF, files: srcFiles, change: newDockerfile("FROM busybox\nCOPY --chmod=700 src/ /app/\n"), wantRun: true, wantReason: "chmod changed"},
		{name: "COPY: parent step", dockerfile: "FROM busybox\nRUN echo 1\nCOPY src/ /app/\n", files: srcFiles, change: newDockerfile("FROM busybox\nRUN echo 2\nCOPY src/ /app/\n"), wantRun: true, wantReason: "parent step ran"},
		{name: "COPY: mtime only", dockerfile: copyDF, files: srcFiles, change: func(t *testing.T, d string) string {
			future := time.Now().Add(time.Hour)
			must(t, os.Chtimes(filepath.Join(d, "src/a.go"), future, future))
			return ""
		}},
		{name: "COPY: unselected file", dockerfile: copyDF, files: srcFiles, change: editFile("other.txt", "changed")},
		{name: "COPY: dockerignored file", dockerfile: copyDF, files: srcFiles, change: editFile("src/ignored.go", "x")},
		{name: "COPY: same context in another directory", dockerfile: copyDF, files: srcFiles, moveTo: true},
		{name: "RUN: command", dockerfile: runDF, change: newDockerfile(strings.Replace(runDF, "echo $V $E", "echo $V $E !", 1)), wantRun: true, wantReason: "args changed"},
		{name: "RUN: build arg", dockerfile: runDF, args2: map[string]string{"V": "2"}, wantRun: true, wantReason: "build-arg V changed"},
		{name: "RUN: env", dockerfile: runDF, change: newDockerfile(strings.Replace(runDF, "ENV E=1", "ENV E=2", 1)), wantRun: true, wantReason: "env E changed"},
		{name: "RUN: user", dockerfile: runDF, change: newDockerfile(strings.Replace(runDF, "USER root", "USER 0", 1)), wantRun: true, wantReason: "user changed"},
		{name: "RUN: workdir", dockerfile: runDF, change: newDockerfile(strings.Replace(runDF, "WORKDIR /w", "WORKDIR /x", 1)), wantRun: true},
		{name: "RUN: shell", dockerfile: runDF, change: newDockerfile(strings.Replace(runDF, "RUN echo", "SHELL [\"/bin/sh\", \"-ec\"]\nRUN echo", 1)), wantRun: true, wantReason: "args changed"},
		{name: "RUN: network", dockerfile: runDF, change: newDockerfile(strings.Replace(runDF, "RUN echo", "RUN --network=none echo", 1)), wantRun: true, wantReason: "network changed"},
		{name: "RUN: mount", dockerfile: runDF, change: newDockerfile(strings.Replace(runDF, "RUN echo", "RUN --mount=type=tmpfs,target=/t echo", 1)), wantRun: true, wantReason: "mounts changed"},
		{name: "RUN: undeclared build arg", dockerfile: runDF, args2: map[string]string{"V": "1", "UNUSED": "x"}},
		// Proxy build args reach RUN without ARG but stay out of the key (BuildKit's ProxyEnv) ...
		{name: "RUN: undeclared proxy build arg", dockerfile: runDF, args: map[string]string{"V": "1", "HTTP_PROXY": "http://a:1"},
			args2: map[string]string{"V": "1", "HTTP_PROXY": "http://b:2", "no_proxy": "x"}},
		// ... unless declared.
		{name: "RUN: declared proxy build arg", dockerfile: "FROM busybox\nARG HTTP_PROXY\nRUN echo\n", args: map[string]string{"HTTP_PROXY": "http://a:1"},
			args2: map[string]string{"HTTP_PROXY": "http://b:2"}, wantRun: true, wantReason: "HTTP_PROXY"},
		{name: "RUN: bind mount rw", dockerfile: "FROM busybox\nRUN --mount=type=bind,target=/c echo\n",
			change: newDockerfile("FROM busybox\nRUN --mount=type=bind,target=/c,rw echo\n"), wantRun: true, wantReason: "mounts changed"},
		{name: "COPY: --exclude", dockerfile: copyDF, files: srcFiles, change: newDockerfile("FROM busybox\nCOPY --exclude=b.go src/ /app/\n"), wantRun: true},
		{name: "COPY: excluded file", dockerfile: "FROM busybox\nCOPY --exclude=b.go src/ /app/\n", files: srcFiles, change: editFile("src/b.go", "B")},
		{name: "RUN: label after it", dockerfile: runDF, change: newDockerfile(runDF + "LABEL x=y\n")},
		{name: "RUN: context file", dockerfile: runDF, files: map[string]string{"f": "1"}, change: editFile("f", "2")},
	}
	b, _ := newBuilder(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			writeFiles(t, dir, map[string]string{"Dockerfile": tc.dockerfile})
			time.Sleep(30 * time.Millisecond) // age the files past the stat cache's racy window
			if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, BuildArgs: tc.args}); err != nil {
				t.Fatal(err)
			}
			if tc.moveTo {
				other := t.TempDir()
				writeFiles(t, other, tc.files)
				writeFiles(t, other, map[string]string{"Dockerfile": tc.dockerfile})
				dir = other
			}
			if tc.change != nil {
				if df := tc.change(t, dir); df != "" {
					writeFiles(t, dir, map[string]string{"Dockerfile": df})
				}
			}
			args := tc.args
			if tc.args2 != nil {
				args = tc.args2
			}
			var log bytes.Buffer
			if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, BuildArgs: args, Explain: true, Progress: &log}); err != nil {
				t.Fatal(err)
			}
			last := lastStepLines(log.String())
			ran := strings.Contains(last, "would run")
			if ran != tc.wantRun {
				t.Errorf("last step ran=%v, want %v:\n%s", ran, tc.wantRun, log.String())
			}
			if tc.wantReason != "" && !strings.Contains(last, tc.wantReason) {
				t.Errorf("explanation lacks %q:\n%s", tc.wantReason, last)
			}
		})
	}
}

var stepLineRe = regexp.MustCompile(`STEP (\d+)/(\d+)`)

// lastStepLines returns the progress lines of the last step.
func lastStepLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		m := stepLineRe.FindStringSubmatch(l)
		if m != nil && m[1] == m[2] {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestExplainNoCache: --no-cache and --no-cache-filter are given as the reasons.
func TestExplainNoCache(t *testing.T) {
	b, _ := newBuilder(t)
	dir := contextDir(t, "FROM busybox AS a\nRUN echo a > /a\nFROM busybox\nRUN echo b\nCOPY --from=a /a /a\n")
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir}); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, Explain: true, NoCache: true, Progress: &log}); err != nil {
		t.Fatal(err)
	}
	if strings.Count(log.String(), "would run: --no-cache") != 3 {
		t.Errorf("--no-cache explanation:\n%s", log.String())
	}
	log.Reset()
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, Explain: true, NoCacheFilter: []string{"a"}, Progress: &log}); err != nil {
		t.Fatal(err)
	}
	// Stage a reruns; the final stage's RUN is cached; its COPY --from=a depends on what a's rerun
	// produces, which --explain cannot know.
	if strings.Count(log.String(), "would run: --no-cache-filter") != 1 || strings.Count(log.String(), "CACHED") != 1 ||
		!strings.Contains(log.String(), "would run: the --from source changed") {
		t.Errorf("--no-cache-filter a explanation:\n%s", log.String())
	}
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, NoCacheFilter: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), "--no-cache-filter") {
		t.Errorf("unknown --no-cache-filter stage: %v", err)
	}
}

// TestNoCacheFilterFollowsContent: rerunning a stage with --no-cache-filter keeps its dependents cached
// when it produces the same content, and reruns them when the content changed.
func TestNoCacheFilterFollowsContent(t *testing.T) {
	b, _ := newBuilder(t)
	for _, tc := range []struct {
		run        string
		wantCopied bool
	}{
		{"echo same > /a", false},
		{"echo $RANDOM$RANDOM > /a", true},
	} {
		dir := contextDir(t, "FROM busybox AS a\nRUN "+tc.run+"\nFROM busybox\nCOPY --from=a /a /a\n")
		// The epoch clamps the mtime of /a: without it, two runs in different seconds differ.
		epoch := time.Unix(1700000000, 0)
		if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, SourceDateEpoch: &epoch}); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir, SourceDateEpoch: &epoch,
			NoCacheFilter: []string{"a"}, Progress: &log}); err != nil {
			t.Fatal(err)
		}
		copied := strings.Contains(log.String(), "[stage 2/2] STEP 2/2: cache miss")
		if copied != tc.wantCopied {
			t.Errorf("RUN %s: COPY --from=a reran=%v, want %v:\n%s", tc.run, copied, tc.wantCopied, log.String())
		}
	}
}

// TestCopyLinkSurvivesParentChange: a COPY --link layer is reused when a step below it changes (cache
// lookups continue past the miss), and the image still has both changes.
func TestCopyLinkSurvivesParentChange(t *testing.T) {
	b, st := newBuilder(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"big/a": strings.Repeat("a", 1000), "big/b": "b"})
	df := func(v string) string {
		return "FROM busybox\nRUN echo " + v + " > /v\nCOPY --link big/ /opt/big/\nRUN cat /v /opt/big/b > /both\n"
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": df("one")})
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: dir}); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"Dockerfile": df("two")})
	var log bytes.Buffer
	res, err := b.Build(context.Background(), builder.Options{ContextDir: dir, Progress: &log})
	if err != nil {
		t.Fatal(err)
	}
	out := log.String()
	if !strings.Contains(out, "STEP 2/4: cache miss") || !strings.Contains(out, "STEP 3/4: CACHED") || !strings.Contains(out, "STEP 4/4: cache miss") {
		t.Errorf("want RUN miss, COPY --link cached, last RUN miss:\n%s", out)
	}
	img, _ := st.Image(res.Manifest)
	fs, _, _ := dumpImage(t, img)
	for _, want := range []string{"/opt/big/a f 0644 0:0 1000", "/both f 0644 0:0 5", "/v f 0644 0:0 4"} {
		if !strings.Contains(string(fs), want) {
			t.Errorf("image lacks %q", want)
		}
	}
}
