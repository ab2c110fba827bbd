package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"go.yaml.in/yaml/v3"

	"github.com/hoistbuild/hoist/internal/testutil"
)

// ciExample is one file of examples/ci and the shell scripts in it that a CI system would run.
type ciExample struct {
	file    string
	scripts func(t *testing.T, doc map[string]any) []string
}

var ciExamples = []ciExample{
	{"github-actions.yml", func(t *testing.T, doc map[string]any) []string {
		var out []string
		for _, job := range asMap(t, doc["jobs"]) {
			for _, step := range asList(t, asMap(t, job)["steps"]) {
				if run, ok := asMap(t, step)["run"].(string); ok {
					out = append(out, run)
				}
			}
		}
		return out
	}},
	{"gitlab-ci.yml", func(t *testing.T, doc map[string]any) []string {
		var out []string
		for _, job := range doc {
			if m, ok := job.(map[string]any); ok {
				for _, line := range asList(t, m["script"]) {
					out = append(out, line.(string))
				}
			}
		}
		return out
	}},
	{"k8s-job.yaml", func(t *testing.T, doc map[string]any) []string {
		spec := asMap(t, asMap(t, asMap(t, doc["spec"])["template"])["spec"])
		if spec["hostUsers"] != false {
			t.Errorf("k8s-job.yaml: the pod needs hostUsers: false (a user namespace of its own)")
		}
		var out []string
		for _, c := range asList(t, spec["containers"]) {
			sc := asMap(t, asMap(t, c)["securityContext"])
			for k, want := range map[string]string{"seccompProfile": "Unconfined", "appArmorProfile": "Unconfined"} {
				if asMap(t, sc[k])["type"] != want {
					t.Errorf("k8s-job.yaml: securityContext.%s.type must be %s", k, want)
				}
			}
			if sc["procMount"] != "Unmasked" || sc["allowPrivilegeEscalation"] != false {
				t.Errorf("k8s-job.yaml: securityContext needs procMount: Unmasked and allowPrivilegeEscalation: false, has %v", sc)
			}
			for _, a := range asList(t, asMap(t, c)["args"]) {
				out = append(out, a.(string))
			}
		}
		return out
	}},
}

func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("want a mapping, got %T", v)
	}
	return m
}

func asList(t *testing.T, v any) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("want a sequence, got %T", v)
	}
	return l
}

// hoistLine matches a script line that runs hoist (directly or at the end of a pipe).
var hoistLine = regexp.MustCompile(`(^|\|\s*)hoist\s`)

// TestCIExamples parses every file of examples/ci as YAML and runs each hoist command line in it,
// as the unprivileged user, against a loopback registry with basic auth: the image they build and
// push must be in the registry.
func TestCIExamples(t *testing.T) {
	e := newRootlessEnv(t)
	root, _ := testutil.NewRoot(t)
	bb := filepath.Join(e.dir, "busybox.tar")
	if r := hoist(t, root, "", "save", "-o", bb, "busybox:latest"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	_ = os.Chmod(bb, 0o644)
	e.ok("load", "-i", bb)
	reg := testutil.RegistryWith(t, testutil.RegistryConfig{Htpasswd: testutil.Htpasswd(t, "alice", "s3cret")})
	ctxDir := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, ctxDir, map[string]string{"Dockerfile": "FROM busybox\nRUN echo built > /built\nCOPY . /app\n", "main.txt": "x\n"})
	_ = filepath.Walk(ctxDir, func(p string, _ os.FileInfo, _ error) error { return os.Chmod(p, 0o755) })

	for _, ex := range ciExamples {
		t.Run(ex.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "..", "examples", "ci", ex.file))
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("%s: %v", ex.file, err)
			}
			var lines []string
			for _, s := range ex.scripts(t, doc) {
				for _, l := range strings.Split(s, "\n") {
					if hoistLine.MatchString(strings.TrimSpace(l)) {
						lines = append(lines, strings.TrimSpace(l))
					}
				}
			}
			if len(lines) < 3 {
				t.Fatalf("%s: only %d hoist command lines: %q", ex.file, len(lines), lines)
			}
			image := reg + "/ci/" + strings.TrimSuffix(strings.TrimSuffix(ex.file, ".yml"), ".yaml")
			env := []string{"REGISTRY=" + reg, "IMAGE=" + image, "TAG=1", "REGISTRY_USER=alice", "REGISTRY_PASSWORD=s3cret"}
			for _, l := range lines {
				if out, err := e.shell(ctxDir, env, l); err != nil {
					t.Fatalf("%s: %s: %v\n%s", ex.file, l, err, out)
				}
			}
			ref, err := name.ParseReference(image+":1", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := remote.Head(ref, remote.WithAuth(&authn.Basic{Username: "alice", Password: "s3cret"})); err != nil {
				t.Errorf("%s: the pushed image is not in the registry: %v", ex.file, err)
			}
		})
	}
}

// shell runs a script line with sh as the user, hoist on its PATH, in dir.
func (e *rootlessEnv) shell(dir string, env []string, line string) (string, error) {
	cmd := exec.Command("/bin/sh", "-ec", line)
	cmd.Dir = dir
	cmd.Env = append([]string{"HOIST_TEST_CLI=1", "HOME=" + e.home(), "PATH=" + e.dir + ":" + e.path, "LANG=C",
		"XDG_DATA_HOME=" + filepath.Join(e.home(), "data"), "XDG_RUNTIME_DIR=" + filepath.Join(e.home(), "run")}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: e.uid, Gid: e.gid, Groups: []uint32{}}}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
