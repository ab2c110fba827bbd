package run

import (
	"fmt"
	"os"
	"strconv"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// The console of a Spec.Terminal sandbox is allocated by the child, from the
// devpts instance it mounted on its own /dev/pts, so that the slave has a
// name inside the sandbox (runc's console socket does the same). The master
// travels back to the parent over a unix socket, fd 5 in the child, as
// SCM_RIGHTS; the parent reads it once the command exec'd (the child's end
// is close-on-exec, so the read never blocks on a live child).

// consoleFd is the child's end of the console socket (only with Terminal).
const consoleFd = 5

// setupConsole opens a pty in the sandbox's /dev/pts (after pivot_root),
// gives its slave to u and the size size, sends the master to the parent over
// sock, and makes the slave the controlling terminal and fds 0, 1 and 2 of
// the process. The process must be a session leader (Setsid at clone).
func setupConsole(sock *os.File, u *user.ExecUser, size WindowSize) error {
	defer sock.Close()
	mfd, err := unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the sandbox's ptmx: %w", &os.PathError{Op: "open", Path: "/dev/pts/ptmx", Err: err})
	}
	defer unix.Close(mfd)
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlocking the pty: %w", &os.SyscallError{Syscall: "ioctl TIOCSPTLCK", Err: err})
	}
	n, err := unix.IoctlGetInt(mfd, unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("getting the pty number: %w", &os.SyscallError{Syscall: "ioctl TIOCGPTN", Err: err})
	}
	slavePath := "/dev/pts/" + strconv.Itoa(n)
	sfd, err := unix.Open(slavePath, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the pty slave: %w", &os.PathError{Op: "open", Path: slavePath, Err: err})
	}
	defer unix.Close(sfd)
	// docker's slave belongs to the command's user (group tty from the
	// devpts mount options), so that it can fchmod it (mesg, write).
	if err := unix.Fchown(sfd, u.Uid, -1); err != nil {
		return fmt.Errorf("giving the pty to uid %d: %w", u.Uid, &os.SyscallError{Syscall: "fchown", Err: err})
	}
	if size.Rows > 0 && size.Cols > 0 {
		ws := &unix.Winsize{Row: size.Rows, Col: size.Cols}
		if err := unix.IoctlSetWinsize(sfd, unix.TIOCSWINSZ, ws); err != nil {
			return fmt.Errorf("setting the pty size: %w", &os.SyscallError{Syscall: "ioctl TIOCSWINSZ", Err: err})
		}
	}
	if err := unix.Sendmsg(int(sock.Fd()), []byte(slavePath), unix.UnixRights(mfd), nil, 0); err != nil {
		return fmt.Errorf("sending the pty master: %w", &os.SyscallError{Syscall: "sendmsg", Err: err})
	}
	if err := unix.IoctlSetInt(sfd, unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("making the pty the controlling terminal: %w", &os.SyscallError{Syscall: "ioctl TIOCSCTTY", Err: err})
	}
	for fd := 0; fd <= 2; fd++ {
		// Dup3 without O_CLOEXEC: fds 0-2 reach the command.
		if err := unix.Dup3(sfd, fd, 0); err != nil {
			return fmt.Errorf("making the pty fd %d: %w", fd, &os.SyscallError{Syscall: "dup3", Err: err})
		}
	}
	return nil
}

// receiveConsole reads the pty master the child sent over sock. It returns
// an error when the child exec'd without sending one.
func receiveConsole(sock *os.File) (*os.File, error) {
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, unix.MSG_CMSG_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("receiving the pty master: %w", &os.SyscallError{Syscall: "recvmsg", Err: err})
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return nil, fmt.Errorf("receiving the pty master: %w", err)
	}
	if len(msgs) != 1 {
		return nil, fmt.Errorf("receiving the pty master: got %d control messages, want 1", len(msgs))
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil {
		return nil, fmt.Errorf("receiving the pty master: %w", err)
	}
	if len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("receiving the pty master: got %d fds, want 1", len(fds))
	}
	return os.NewFile(uintptr(fds[0]), string(buf[:n])), nil
}
