package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// engine is docker or hoist, run the same way: a test gives both the same command line and compares
// what a user sees (stdout, stderr, exit status).
type engine struct {
	name string
	run  func(t *testing.T, stdin string, args ...string) result
	// names is a prefix unique to this test run, for container names, so that tests sharing the
	// machine's dockerd never meet each other's containers.
	names string
}

// dockerBin is the reference CLI: docker.io 20.10, the release of the machine's dockerd (prereq.Docker
// checks this path; a newer CLI earlier in PATH would print some things differently).
const dockerBin = "/usr/bin/docker"

// dockerEngine is the docker CLI on the machine's dockerd (the reference), or a prerequisite skip.
// Every container whose name starts with e.names is force-removed at the end.
func dockerEngine(t *testing.T) engine {
	t.Helper()
	prereq.Require(t, prereq.Docker)
	e := engine{name: "docker", names: uniquePrefix(), run: func(t *testing.T, stdin string, args ...string) result {
		t.Helper()
		return runCmd(t, exec.Command(dockerBin, args...), stdin)
	}}
	t.Cleanup(func() {
		out, _ := exec.Command(dockerBin, "ps", "-aq", "--filter", "name="+e.names).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			_ = exec.Command(dockerBin, append([]string{"rm", "-f"}, ids...)...).Run()
		}
	})
	return e
}

// hoistEngine is hoist on root (containerRoot removes its containers at the end).
func hoistEngine(root string) engine {
	return engine{name: "hoist", names: uniquePrefix(), run: func(t *testing.T, stdin string, args ...string) result {
		t.Helper()
		return hoist(t, root, stdin, args...)
	}}
}

func uniquePrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "hoisttest-" + hex.EncodeToString(b[:]) + "-"
}

// runCmd runs cmd with stdin and hoistTimeout as its limit.
func runCmd(t *testing.T, cmd *exec.Cmd, stdin string) result {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Start()
	if err == nil {
		timer := time.AfterFunc(hoistTimeout, func() { _ = cmd.Process.Kill() })
		err = cmd.Wait()
		if !timer.Stop() {
			t.Errorf("%q killed after %v", cmd.Args, hoistTimeout)
		}
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %q: %v", cmd.Args, err)
	}
	return result{out.String(), errb.String(), code}
}

// waitState polls `inspect -f tmpl name` until it prints want (trimmed), for up to d; it fails the
// test with the last output otherwise.
func (e engine) waitState(t *testing.T, d time.Duration, name, tmpl, want string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		res := e.run(t, "", "inspect", "-f", tmpl, name)
		if strings.TrimSpace(res.stdout) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s of %s is %q after %v (stderr %q), want %q", e.name, tmpl, name, strings.TrimSpace(res.stdout), d, res.stderr, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
