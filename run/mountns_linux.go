package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// PrivateMountsEnv=1 marks a hoist process that runs in a private mount namespace of its own, made
// by ReexecPrivateMounts or by whoever started it with CLONE_NEWNS (the rootless server): MaybeInit
// makes its mounts private, and it never re-executes itself for one.
const PrivateMountsEnv = "_HOIST_PRIVATE_MOUNTS"

// InPrivateMounts reports whether this process already runs in a private mount namespace of its own.
func InPrivateMounts() bool { return os.Getenv(PrivateMountsEnv) == "1" }

// ReexecPrivateMounts runs this same command line again in a new mount namespace and returns its exit
// status; the caller exits with it. Every mount the child makes (the overlays of a build) lives in that
// namespace only: nothing is visible on the host, and when the child dies, even by SIGKILL, the kernel
// drops them all, so an interrupted build can never leak a mount.
//
// The child dies with this process (PDEATHSIG). SIGINT and SIGTERM received here are forwarded to it
// and this process keeps waiting, so the child can clean up and report its own status.
func ReexecPrivateMounts(ctx context.Context) (int, error) {
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), PrivateMountsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Pdeathsig: unix.SIGKILL}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM)
	defer signal.Stop(sigs)

	// PDEATHSIG fires when the thread that forked the child exits: hold it until the child is gone.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return 125, fmt.Errorf("entering a private mount namespace: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal()), nil
				}
				return ee.ExitCode(), nil
			}
			if err != nil {
				return 125, err
			}
			return 0, nil
		}
	}
}

// makeMountsPrivate runs first thing in a re-executed child: from now on its mounts do not propagate
// back to the host namespace.
func makeMountsPrivate() {
	if !InPrivateMounts() {
		return
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		fmt.Fprintf(os.Stderr, "hoist: making mounts private: %v\n", err)
		os.Exit(125)
	}
}
