package main

import (
	"bufio"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringBuild kills hoist with SIGKILL in the middle of a RUN and in the middle of a layer
// commit; afterwards no sandbox process survives, `hoist images` works and shows nothing new, and the
// next build succeeds and cleans what the killed one left.
func TestKillDuringBuild(t *testing.T) {
	root := newRoot(t)
	tests := []struct {
		name       string
		dockerfile string
		marker     string        // stderr text after which to kill
		delay      time.Duration // extra wait after the marker
		midCommit  bool          // the kill must land while a layer blob is being written
	}{
		// The markers are computed by the shell so that the progress line echoing the command does not
		// contain them.
		{"mid-RUN", "FROM busybox\nRUN echo sleeping-$((40+2)) && sleep 60\n", "sleeping-42", 100 * time.Millisecond, false},
		// 512 MiB of random data takes seconds to tar, hash and gzip: the kill lands inside the commit,
		// which the blob temp file left in the store proves.
		{"mid-commit", "FROM busybox\nRUN head -c 536870912 /dev/urandom > /big && echo written-$((40+2))\n", "written-42", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := hoist(t, root, "", "images", "-q")
			ctxDir := writeContext(t, map[string]string{"Dockerfile": tc.dockerfile})
			cmd := hoistCmd(root, "build", "-t", "killed:latest", ctxDir)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			found := make(chan bool, 1)
			go func() {
				sc := bufio.NewScanner(stderr)
				ok := false
				for sc.Scan() {
					if !ok && strings.Contains(sc.Text(), tc.marker) {
						ok = true
						found <- true
					}
				}
				if !ok {
					found <- false
				}
				io.Copy(io.Discard, stderr)
			}()
			select {
			case ok := <-found:
				if !ok {
					cmd.Wait()
					t.Fatalf("build ended before printing %q", tc.marker)
				}
			case <-time.After(2 * time.Minute):
				cmd.Process.Kill()
				t.Fatal("timed out waiting for the build to reach the marker")
			}
			time.Sleep(tc.delay)
			if tc.midCommit {
				// Wait until the layer blob is being written (its temp file exists), then kill.
				deadline := time.Now().Add(60 * time.Second)
				for countLeftovers(t, root).storeTemp == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()

			// The sandbox dies with its parent (PDEATHSIG); give the kernel a moment to reap it.
			deadline := time.Now().Add(5 * time.Second)
			for countLeftovers(t, root).inits > 0 && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if n := countLeftovers(t, root).inits; n > 0 {
				t.Errorf("%d sandbox processes survived the kill", n)
			}
			if tc.midCommit {
				if l := countLeftovers(t, root); l.storeTemp == 0 {
					t.Errorf("the kill did not land mid-commit (no blob temp file): %s", l)
				}
			}
			after := hoist(t, root, "", "images", "-q")
			if after.code != 0 {
				t.Fatalf("hoist images after kill: exit %d: %s", after.code, after.stderr)
			}
			if after.stdout != before.stdout {
				t.Errorf("images changed by a killed build:\nbefore %q\nafter %q", before.stdout, after.stdout)
			}
			ok := hoist(t, root, "", "build", "-t", "after-kill:latest", writeContext(t, map[string]string{
				"Dockerfile": "FROM busybox\nRUN echo fine > /fine\n"}))
			if ok.code != 0 {
				t.Fatalf("build after kill failed: %s", ok.stderr)
			}
			if l := countLeftovers(t, root); l != (leftovers{}) {
				t.Errorf("leftovers after the next build: %s", l)
			}
		})
	}
}
