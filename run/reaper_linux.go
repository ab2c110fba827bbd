package run

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// reap is the minimal init of Spec.Init (docker's --init): instead of
// exec'ing the command, the sandbox's init starts it as its child and stays
// PID 1, forwarding every signal it can catch to the command and reaping
// every orphan, so zombies never pile up. It exits with the command's
// status (128+N when a signal N killed it), as tini does.
//
// The init is made non-dumpable first: its /proc/1/exe is the hoist binary
// of the host, and a non-dumpable process's /proc entries are out of reach
// without CAP_SYS_PTRACE, so nothing inside can open (and later write) it.
func reap(path string, args, env []string, terminal bool, errPipe *os.File) error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return &os.SyscallError{Syscall: "prctl(PR_SET_DUMPABLE)", Err: err}
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	pid, err := syscall.ForkExec(path, args, &syscall.ProcAttr{
		Env:   env,
		Files: []uintptr{0, 1, 2},
		// Its own process group; with a terminal, the foreground one, so
		// ^C reaches it once, from the terminal, not again from us.
		Sys: &syscall.SysProcAttr{Setpgid: true, Foreground: terminal, Ctty: 0},
	})
	if err != nil {
		return fmt.Errorf("exec: %q: %w", args[0], err)
	}
	// The exec succeeded: the parent reads EOF once our end is closed too.
	errPipe.Close()
	go func() {
		for s := range sigs {
			if s == unix.SIGCHLD || s == unix.SIGURG { // SIGURG: the Go runtime's preemption
				continue
			}
			_ = unix.Kill(pid, s.(unix.Signal))
		}
	}()
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			os.Exit(1) // ECHILD: nothing left, but the command was never seen to exit
		}
		if wpid != pid {
			continue // an orphan, reaped
		}
		if ws.Signaled() {
			os.Exit(128 + int(ws.Signal()))
		}
		os.Exit(ws.ExitStatus())
	}
}
