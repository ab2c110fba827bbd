package rootless

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/user"
	"golang.org/x/sys/unix"
)

// Forward runs this process's command (args, without argv[0]) inside the rootless namespaces,
// starting the server when none runs, and returns the command's exit status. Errors of the
// namespace itself are printed to stderr and give 125, docker's status for its own failures.
func Forward(args []string) int {
	code, err := forward(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: rootless: %v\n", err)
		return 125
	}
	return code
}

func forward(args []string) (int, error) {
	dir := RuntimeDir()
	if err := ensureDir(dir); err != nil {
		return 0, err
	}
	sock := filepath.Join(dir, "rootless.sock")
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	defer exe.Close()
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "/"
	}
	req := request{
		Version: protoVersion,
		Args:    append([]string{os.Args[0]}, args...),
		Env:     append(os.Environ(), runtimeEnv+"="+dir),
		Dir:     cwd,
	}
	// Signals arrive from now on; the ones before the command started are delivered to it then.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGWINCH, unix.SIGUSR1, unix.SIGUSR2)
	defer signal.Stop(sigs)
	// A server that stops for idleness between our dial and our request closes the connection
	// before it answers: start a new one, once.
	for attempt := 0; ; attempt++ {
		c, err := connect(dir, sock)
		if err != nil {
			return 0, err
		}
		code, err := runOn(c, req, exe, sigs)
		c.Close()
		if errors.Is(err, errEOF) && attempt == 0 {
			continue
		}
		return code, err
	}
}

// runOn sends the request on c and relays signals until the command's exit status arrives.
func runOn(c *net.UnixConn, req request, exe *os.File, sigs <-chan os.Signal) (int, error) {
	if err := send(c, req, exe, os.Stdin, os.Stdout, os.Stderr); err != nil {
		return 0, fmt.Errorf("sending the command to the rootless server: %w", err)
	}
	var started reply
	if _, err := recv(c, &started); err != nil {
		return 0, err
	}
	if started.Error != "" {
		return 0, errors.New(started.Error)
	}
	replies := make(chan reply, 1)
	errs := make(chan error, 1)
	go func() {
		var r reply
		_, err := recv(c, &r)
		if err != nil {
			errs <- err
			return
		}
		replies <- r
	}()
	for {
		select {
		case s := <-sigs:
			_ = send(c, reply{Signal: int(s.(syscall.Signal))})
		case r := <-replies:
			if r.Exit == nil {
				return 0, errors.New("the rootless server sent no exit status")
			}
			return *r.Exit, nil
		case err := <-errs:
			return 0, fmt.Errorf("the rootless server ended the command's connection: %w", err)
		}
	}
}

func dial(sock string) (*net.UnixConn, error) {
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
}

// connect dials the server, starting it first when none answers. Starting is serialised by a lock
// in the runtime directory, so two first commands start one server.
func connect(dir, sock string) (*net.UnixConn, error) {
	if c, err := dial(sock); err == nil {
		return c, nil
	}
	lock, err := os.OpenFile(filepath.Join(dir, "rootless.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("locking %s: %w", lock.Name(), err)
	}
	if c, err := dial(sock); err == nil {
		return c, nil
	}
	if err := startServer(dir, sock); err != nil {
		return nil, err
	}
	return dial(sock)
}

// startServer starts the rootless server in new user, mount and network namespaces, writes their
// id mapping and connects the network namespace to the host. It returns once the server listens.
func startServer(dir, sock string) error {
	u, err := user.CurrentUser()
	if err != nil {
		return fmt.Errorf("looking up uid %d: %w", os.Getuid(), err)
	}
	m, warning, err := hostMapping(u.Uid, u.Gid, u.Name, "/etc/subuid", "/etc/subgid")
	if err != nil {
		return err
	}
	if warning != "" {
		fmt.Fprintf(os.Stderr, "WARNING: %s\n", warning)
	}
	if err := checkUsernsEnabled(); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(dir, "rootless.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	mapR, mapW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer mapR.Close()
	defer mapW.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	defer readyW.Close()
	cmd := exec.Command("/proc/self/exe", ServerArg, "wait", sock)
	cmd.Args[0] = "hoist"
	cmd.Env = append(os.Environ(), runtimeEnv+"="+dir)
	cmd.Dir = "/"
	cmd.Stdout, cmd.Stderr = log, log
	cmd.ExtraFiles = []*os.File{mapR, readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET,
		Setsid:     true,
	}
	if err := cmd.Start(); err != nil {
		return usernsError(err)
	}
	mapR.Close()
	readyW.Close()
	fail := func(err error) error {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return err
	}
	if err := m.apply(cmd.Process.Pid); err != nil {
		return fail(fmt.Errorf("mapping ids into the user namespace: %w", err))
	}
	if _, err := mapW.Write([]byte{'M'}); err != nil {
		return fail(err)
	}
	mapW.Close()
	if err := waitReady(readyR); err != nil {
		return fail(err)
	}
	// The server lives on (in its own session): release it from our children.
	pid := cmd.Process.Pid
	if err := cmd.Process.Release(); err != nil {
		return err
	}
	if err := startPorts(pid, log); err != nil {
		return err
	}
	warnNoUplink(os.Stderr)
	return nil
}

// waitReady waits for the first byte a starting server or port helper writes on its ready pipe: 'R'
// (ready: returns at once, whoever else still holds the pipe) or 'E' and the reason it failed.
func waitReady(r *os.File) error {
	_ = r.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b [1]byte
	n, err := r.Read(b[:])
	switch {
	case n == 1 && b[0] == 'R':
		return nil
	case n == 1 && b[0] == 'E':
		msg, _ := io.ReadAll(io.LimitReader(r, 4096))
		return fmt.Errorf("starting the rootless server: %s", msg)
	case errors.Is(err, io.EOF):
		return errors.New("the rootless server exited before it was ready")
	case err != nil:
		return fmt.Errorf("starting the rootless server: %w", err)
	}
	return fmt.Errorf("starting the rootless server: unexpected %q on the ready pipe", b[:n])
}

// checkUsernsEnabled turns the sysctls that forbid user namespaces into one clear error before
// clone fails with a bare EPERM or ENOSPC.
func checkUsernsEnabled() error {
	for _, c := range []struct{ file, name string }{
		{"/proc/sys/user/max_user_namespaces", "user.max_user_namespaces"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone"},
	} {
		b, err := os.ReadFile(c.file)
		if err == nil && strings.TrimSpace(string(b)) == "0" {
			return fmt.Errorf("user namespaces are disabled on this host (sysctl %s=0); rootless hoist needs them: "+
				"ask the administrator to set it (sysctl -w %s=...), or run hoist as root", c.name, c.name)
		}
	}
	return nil
}

func usernsError(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("creating a user namespace: %w (user namespaces disabled or restricted on this host: "+
			"user.max_user_namespaces, kernel.unprivileged_userns_clone, or an AppArmor/seccomp policy)", err)
	}
	return fmt.Errorf("starting the rootless server: %w", err)
}
