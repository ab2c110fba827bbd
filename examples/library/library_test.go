package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// TestLibraryExample builds the example program and runs it as a user would: a real build of
// examples/hello on a busybox root, a real push to a loopback registry, a real run. The pushed
// manifest must be in the registry under the digest the program printed, and the container's output
// on stdout. A Dockerfile whose RUN fails makes the program fail, naming the build.
func TestLibraryExample(t *testing.T) {
	prereq.Require(t, prereq.Root|prereq.Busybox|prereq.Registry)
	bin := filepath.Join(t.TempDir(), "library")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	root, _ := testutil.NewRoot(t)
	reg := testutil.Registry(t)
	ref := reg + "/example/hello:1"

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "-root", root, "../hello", ref)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("library: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "hello from hoist (running as app)\n") {
		t.Errorf("the container's output is missing from stdout:\n%s", out)
	}
	var digest string
	for _, l := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(l, "pushed "); ok {
			digest = d
		}
	}
	if digest == "" {
		t.Fatalf("no pushed digest in stdout:\n%s", out)
	}
	dref, err := name.NewDigest(digest)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(dref)
	if err != nil {
		t.Fatalf("the registry does not serve %s: %v", digest, err)
	}
	tref, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := remote.Get(tref)
	if err != nil || tagged.Digest != desc.Digest {
		t.Errorf("%s in the registry: %v, %v; want %s", ref, tagged, err, desc.Digest)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "Dockerfile"), []byte("FROM busybox\nRUN exit 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	cmd = exec.Command(bin, "-root", root, bad, reg+"/example/bad:1")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if err == nil || !strings.Contains(stderr.String(), "library: build: ") {
		t.Errorf("a failing RUN: %v\nstderr:\n%s", err, stderr.String())
	}
	if strings.Contains(stdout.String(), "pushed") {
		t.Errorf("a failed build was pushed:\n%s", stdout.String())
	}
}
