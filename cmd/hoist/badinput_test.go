package main

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hostileTar has entries that try to escape the extraction directory.
func hostileTar(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Name: "ok.txt", Typeflag: tar.TypeReg}, "fine")
	add(&tar.Header{Name: "../../../../../../tmp/hoist-escape-dotdot", Typeflag: tar.TypeReg}, "escaped")
	add(&tar.Header{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../../../tmp"}, "")
	add(&tar.Header{Name: "up/hoist-escape-symlink", Typeflag: tar.TypeReg}, "escaped")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestBadInput: every bad input fails with a non-zero exit, one message naming the Dockerfile line or
// the flag, and leaves no temp file, build dir, mount or sandbox process behind, and the image list as
// it was.
func TestBadInput(t *testing.T) {
	root := newRoot(t)
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  []string // substrings of stderr
	}{
		{"unknown instruction", map[string]string{"Dockerfile": "FROM busybox\nFOO bar\n"}, nil,
			[]string{"Dockerfile:2", "FOO bar", "unknown instruction"}},
		{"syntax error", map[string]string{"Dockerfile": "FROM busybox\nHEALTHCHECK --interval=nope CMD true\n"}, nil,
			[]string{"Dockerfile:2", "invalid duration"}},
		{"copy missing file", map[string]string{"Dockerfile": "FROM busybox\nCOPY missing.txt /x\n"}, nil,
			[]string{"Dockerfile:2", "COPY missing.txt /x", "not found"}},
		// "../" is clamped at the context's root, as BuildKit does: this names the context's etc/passwd.
		{"copy outside context", map[string]string{"Dockerfile": "FROM busybox\nCOPY ../../etc/passwd /x\n"}, nil,
			[]string{"Dockerfile:2", "COPY ../../etc/passwd /x", "not found"}},
		// A link to /etc/passwd is resolved inside the context: the context's etc/passwd.
		{"copy symlink out of context", map[string]string{"Dockerfile": "FROM busybox\nCOPY link /x\n"}, nil,
			[]string{"Dockerfile:2", "COPY link /x", "not found"}},
		{"run exits non-zero", map[string]string{"Dockerfile": "FROM busybox\nRUN echo about to fail; exit 3\n"}, nil,
			[]string{"Dockerfile:2", "RUN echo about to fail; exit 3", "exit code: 3", "about to fail"}},
		{"run as unknown user", map[string]string{"Dockerfile": "FROM busybox\nUSER nosuchuser\nRUN true\n"}, nil,
			[]string{"Dockerfile:3", "nosuchuser"}},
		{"run as unknown group", map[string]string{"Dockerfile": "FROM busybox\nUSER root:nosuchgroup\nRUN true\n"}, nil,
			[]string{"Dockerfile:3", "nosuchgroup"}},
		{"unknown target", map[string]string{"Dockerfile": "FROM busybox AS a\nRUN true\n"}, []string{"--target", "nope"},
			[]string{"--target", "nope"}},
		{"bad base name", map[string]string{"Dockerfile": "FROM Not/A:Valid:Name\n"}, nil,
			[]string{"Dockerfile:1", "FROM Not/A:Valid:Name"}},
		{"unreachable registry", map[string]string{"Dockerfile": "FROM 127.0.0.1:1/nothing/here:latest\n"}, nil,
			[]string{"Dockerfile:1", "127.0.0.1:1"}},
		{"hostile tar in ADD", map[string]string{"Dockerfile": "FROM busybox\nADD evil.tar /x/\n", "evil.tar": hostileTar(t)}, nil,
			[]string{"Dockerfile:2", "ADD evil.tar /x/"}},
		{"bad build-arg flag", map[string]string{"Dockerfile": "FROM busybox\n"}, []string{"--build-arg", "=x"},
			[]string{"--build-arg"}},
		{"bad progress flag", map[string]string{"Dockerfile": "FROM busybox\n"}, []string{"--progress", "fancy"},
			[]string{"--progress"}},
	}
	before := hoist(t, root, "", "images", "--no-trunc")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctxDir := writeContext(t, tc.files)
			if tc.name == "copy symlink out of context" {
				if err := os.Symlink("/etc/passwd", filepath.Join(ctxDir, "link")); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"build", "-t", "bad:latest"}, tc.args...)
			res := hoist(t, root, "", append(args, ctxDir)...)
			if res.code == 0 {
				t.Fatalf("build succeeded, want failure\nstderr:\n%s", res.stderr)
			}
			errLine := lastErrorLine(res.stderr)
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q; error was: %s", w, errLine)
				}
			}
			if res.stdout != "" {
				t.Errorf("stdout should be empty on failure, got %q", res.stdout)
			}
			if l := countLeftovers(t, root); l != (leftovers{}) {
				t.Errorf("leftovers after failed build: %s", l)
			}
			for _, p := range []string{"/tmp/hoist-escape-dotdot", "/tmp/hoist-escape-symlink"} {
				if _, err := os.Lstat(p); err == nil {
					os.Remove(p)
					t.Errorf("hostile tar wrote %s outside the image", p)
				}
			}
		})
	}
	after := hoist(t, root, "", "images", "--no-trunc")
	if stripTimes(before.stdout) != stripTimes(after.stdout) {
		t.Errorf("hoist images changed by failed builds:\nbefore:\n%s\nafter:\n%s", before.stdout, after.stdout)
	}
}

// lastErrorLine is the "Error: ..." line of a failed command.
func lastErrorLine(stderr string) string {
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Error: ") {
			return l
		}
	}
	return stderr
}

// stripTimes drops the CREATED column's relative times, which move on their own.
func stripTimes(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 {
			f = f[:3]
		}
		out = append(out, strings.Join(f, " "))
	}
	return strings.Join(out, "\n")
}
