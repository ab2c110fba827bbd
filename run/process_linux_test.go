package run_test

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/run"
	"golang.org/x/sys/unix"
)

func TestRunKillsBackgroundProcesses(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	const marker = "98765"
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: sh("sleep " + marker + " & sleep 0.2; pidof sleep >/dev/null && echo started")}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	if res.err != nil || res.code != 0 || res.stdout != "started\n" {
		t.Fatalf("Run = %d, %v, stdout %q, stderr %q", res.code, res.err, res.stdout, res.stderr)
	}
	if left := processesWith(t, "sleep", marker); len(left) != 0 {
		t.Errorf("processes left after the run: %q", left)
	}
}

func TestRunClosesExtraFds(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	// A descriptor without O_CLOEXEC is inherited by the re-executed init;
	// it must not reach the command.
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Dup3(fd, 100, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(100)
	// ls itself holds fd 3 (the directory it lists).
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: []string{"ls", "/proc/self/fd"}}
	res := sandbox(t, ctxTimeout(t, time.Minute), spec, "", false)
	if res.err != nil || res.code != 0 || res.stdout != "0\n1\n2\n3\n" {
		t.Fatalf("Run = %d, %v, stdout %q (want 0 1 2 3), stderr %q", res.code, res.err, res.stdout, res.stderr)
	}
}

func TestRunCancel(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	const marker = "100.4321" // a number no other test on the host sleeps
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: sh("sleep " + marker + " & sleep " + marker)}
	start := time.Now()
	res := sandbox(t, ctx, spec, "", false)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %v after cancel", took)
	}
	if !errors.Is(res.err, context.DeadlineExceeded) || res.code != 128+9 {
		t.Errorf("Run = %d, %v; want 137, context.DeadlineExceeded", res.code, res.err)
	}
	// A killed process can still show in /proc for a moment on a loaded host (seen once with the
	// whole suite on 2 busy cores): a leak is one that is still there after 2 s.
	left := processesWith(t, "sleep", marker)
	for deadline := time.Now().Add(2 * time.Second); len(left) != 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		left = processesWith(t, "sleep", marker)
	}
	if len(left) != 0 {
		t.Errorf("processes left after cancel: %q", left)
	}
	// Already cancelled: nothing runs.
	code, err := run.Run(ctx, spec, run.IO{})
	if code != -1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run with a done ctx = %d, %v", code, err)
	}
}

// The sandbox dies with its caller (Pdeathsig), even if the caller is
// SIGKILLed and cannot clean up.
func TestRunDiesWithCaller(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	ctx := ctxTimeout(t, time.Minute)
	helper := exec.CommandContext(ctx, "/proc/self/exe", "-test.run=^$")
	helper.Env = append(os.Environ(), orphanEnv+"="+rootfs)
	// A file, not a pipe: a surviving sandbox must not block helper.Wait.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	helper.Stderr = stderr
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	// If the test fails, do not leave the sandbox behind.
	t.Cleanup(func() { killProcessesWith(t, "sleep", orphanMarker) })
	deadline := time.Now().Add(20 * time.Second)
	for len(processesWith(t, "sleep", orphanMarker)) == 0 {
		if time.Now().After(deadline) {
			_ = helper.Process.Kill()
			_ = helper.Wait()
			b, _ := os.ReadFile(stderr.Name())
			t.Fatalf("the sandbox never started; helper stderr: %s", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = helper.Wait()
	deadline = time.Now().Add(5 * time.Second)
	for {
		left := processesWith(t, "sleep", orphanMarker)
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox outlived its killed caller: %q", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The caller could not remove its temp dir and mount points; that is the
	// price of SIGKILL, but no mount may have leaked into our namespace.
	if m := ourMounts(t, rootfs); len(m) != 0 {
		t.Errorf("mounts leaked: %q", m)
	}
}

// Run returns when the command exits even if Stdin never ends.
func TestRunBlockingStdin(t *testing.T) {
	requireRoot(t)
	rootfs := newRootfs(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: sh("read line; echo got $line")}
	done := make(chan struct{})
	var code int
	var err error
	var stdout strings.Builder
	go func() {
		defer close(done)
		code, err = run.Run(context.Background(), spec, run.IO{Stdin: pr, Stdout: &stdout})
	}()
	if _, err := pw.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run is still waiting for stdin after the command exited")
	}
	if code != 0 || err != nil || stdout.String() != "got one\n" {
		t.Errorf("Run = %d, %v, stdout %q", code, err, stdout.String())
	}
}

func BenchmarkRunTrue(b *testing.B) {
	requireRoot(b)
	rootfs := newRootfs(b)
	spec := run.Spec{Rootfs: rootfs, Env: []string{testPath}, Args: []string{"true"}}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if code, err := run.Run(ctx, spec, run.IO{}); code != 0 || err != nil {
			b.Fatalf("Run = %d, %v", code, err)
		}
	}
}
