package run

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// defaultPath is used to find the command when Env has no PATH (docker's).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookupUser resolves spec against the (new) root's /etc/passwd and
// /etc/group. Missing files are fine for numeric ids and for "".
func lookupUser(spec string) (*user.ExecUser, error) {
	u, err := user.GetExecUserPath(spec, &user.ExecUser{Home: "/"}, "/etc/passwd", "/etc/group")
	if err != nil {
		return nil, err // already says "unable to find user bob: ..."
	}
	return u, nil
}

// setUser switches to u: supplementary groups (its memberships plus its
// primary group, the CVE-2023-25173 fix), gid, uid. The syscall package
// applies each to every thread of the process.
func setUser(u *user.ExecUser) error {
	groups := []int{u.Gid}
	for _, g := range u.Sgids {
		if g != u.Gid {
			groups = append(groups, g)
		}
	}
	if err := syscall.Setgroups(groups); err != nil {
		return &os.SyscallError{Syscall: "setgroups", Err: err}
	}
	if err := syscall.Setgid(u.Gid); err != nil {
		return &os.SyscallError{Syscall: "setgid", Err: err}
	}
	if err := syscall.Setuid(u.Uid); err != nil {
		return &os.SyscallError{Syscall: "setuid", Err: err}
	}
	// Changing credentials clears the parent-death signal, and the Go
	// runtime may have moved us off the thread that Start forked: set it
	// again on the thread that will exec.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return &os.SyscallError{Syscall: "prctl(PR_SET_PDEATHSIG)", Err: err}
	}
	return nil
}

// dropBoundingSet removes every capability outside caps from the calling
// thread's bounding set. It needs CAP_SETPCAP, so it runs before setUser.
func dropBoundingSet(caps uint64) error {
	last := lastCap()
	for c := 0; c <= last; c++ {
		if c < 64 && caps&(1<<c) != 0 {
			continue
		}
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: unknown to this kernel
			return fmt.Errorf("drop capability %d from bounding set: %w", c, &os.SyscallError{Syscall: "prctl(PR_CAPBSET_DROP)", Err: err})
		}
	}
	return nil
}

// lastCap is the highest capability the kernel knows.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return unix.CAP_LAST_CAP
}

// setCapabilities sets this thread's capabilities for the exec: for root,
// permitted and effective are set; for other users they are empty (as with
// docker, a non-root command gets no capabilities, only the bounding set).
// Inheritable and ambient are always empty.
func setCapabilities(set uint64, root bool) error {
	var caps uint64
	if root {
		caps = set
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{
		{Effective: uint32(caps), Permitted: uint32(caps)},
		{Effective: uint32(caps >> 32), Permitted: uint32(caps >> 32)},
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return &os.SyscallError{Syscall: "capset", Err: err}
	}
	err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: kernel without ambient caps
		return &os.SyscallError{Syscall: "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", Err: err}
	}
	return nil
}

// lookPath finds file like exec.LookPath, but in the given PATH rather than
// the process's, with the same error messages.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		if err := checkExecutable(file); err != nil {
			return "", &exec.Error{Name: file, Err: err}
		}
		return file, nil
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
}

// checkExecutable reports whether path is a file the current user may exec.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return &fs.PathError{Op: "exec", Path: path, Err: syscall.EISDIR}
	}
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.X_OK, unix.AT_EACCESS); err != nil {
		return &fs.PathError{Op: "faccessat", Path: path, Err: err}
	}
	return nil
}

// clearInheritable empties the calling thread's inheritable and ambient
// capability sets and leaves its permitted and effective sets alone.
func clearInheritable() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return &os.SyscallError{Syscall: "capget", Err: err}
	}
	data[0].Inheritable, data[1].Inheritable = 0, 0
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return &os.SyscallError{Syscall: "capset", Err: err}
	}
	err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
	if err != nil && !errors.Is(err, unix.EINVAL) {
		return &os.SyscallError{Syscall: "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", Err: err}
	}
	return nil
}
