package rootless

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Published ports. A container's port must be bound in the host's network namespace, and nothing
// inside the rootless namespaces can do that. The port helper ([ServerArg] "ports") is a process of
// the user outside them, started with the server and ending with it: a hoist process inside asks it
// over a unix socket to bind an address ([BindHost]) and receives the bound socket as a descriptor.
// The container's userland proxy then accepts the host's connections on that socket itself, so a
// published port answers as soon as `hoist run -d -p` returns, and a port that is taken or
// privileged fails the run with the kernel's reason, as with docker.

type bindRequest struct {
	Proto string `json:"proto"` // "tcp" or "udp"
	Addr  string `json:"addr"`  // host:port, IPv4
}

func portsSocket() string { return filepath.Join(RuntimeDir(), "ports.sock") }

// BindHost binds addr ("0.0.0.0:8080") for proto ("tcp" or "udp") in the host's network namespace
// through the port helper and returns the bound socket. Only inside the rootless namespaces.
func BindHost(proto, addr string) (*os.File, error) {
	c, err := dial(portsSocket())
	if err != nil {
		return nil, fmt.Errorf("the rootless port helper does not answer: %w", err)
	}
	defer c.Close()
	if err := send(c, bindRequest{Proto: proto, Addr: addr}); err != nil {
		return nil, err
	}
	var r reply
	files, err := recv(c, &r)
	if err != nil {
		return nil, err
	}
	if r.Error != "" || len(files) != 1 {
		closeAll(files)
		if r.Errno != 0 {
			return nil, fmt.Errorf("%s: %w", r.Error, syscall.Errno(r.Errno))
		}
		return nil, errors.New(r.Error)
	}
	return files[0], nil
}

// startPorts starts the port helper for the server pid.
func startPorts(pid int, log *os.File) error {
	cmd := exec.Command("/proc/self/exe", ServerArg, "ports", portsSocket())
	cmd.Args[0] = "hoist"
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), runtimeEnv+"="+RuntimeDir(), fmt.Sprintf("%s=%d", serverPidEnv, pid))
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer readyR.Close()
	cmd.ExtraFiles = []*os.File{nil, readyW} // readyFd is 4; 3 stays closed
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		return err
	}
	if err := waitReady(readyR); err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("the rootless port helper: %w", err)
	}
	return cmd.Process.Release()
}

const serverPidEnv = "_HOIST_ROOTLESS_SERVER_PID"

// servePorts is the port helper: it binds what the processes of its user ask for and ends when the
// server does.
func servePorts(sock string) error {
	var pid int
	if _, err := fmt.Sscan(os.Getenv(serverPidEnv), &pid); err != nil {
		return errors.New("no server pid")
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("watching the server: %w", err)
	}
	_ = os.Remove(sock)
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return err
	}
	l.SetUnlinkOnClose(true)
	pasta, err := connectNetwork(pid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: %v\n", err)
	}
	go func() { // the server ended: so do we, and pasta
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		l.Close()
		if pasta != nil {
			_ = pasta.Process.Kill()
		}
		os.Exit(0)
	}()
	ready := os.NewFile(readyFd, "ready")
	if _, err := ready.Write([]byte{'R'}); err != nil {
		return err
	}
	ready.Close()
	readySent = true
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			return err
		}
		go bindFor(c)
	}
}

// bindFor serves one BindHost request.
func bindFor(c *net.UnixConn) {
	defer c.Close()
	var req bindRequest
	files, err := recv(c, &req)
	closeAll(files)
	if err != nil {
		return
	}
	if err := checkPeerUID(c, os.Getuid()); err != nil {
		_ = send(c, reply{Error: err.Error()})
		return
	}
	f, err := bindHost(req.Proto, req.Addr)
	if err != nil {
		r := reply{Error: err.Error()}
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			r.Errno = int(syscall.EADDRINUSE) // the caller tries the next port of a range
		case errors.Is(err, syscall.EACCES):
			_, port, _ := net.SplitHostPort(req.Addr)
			r.Error = fmt.Sprintf("cannot expose privileged port %s as an ordinary user: publish a port >= the host's "+
				"net.ipv4.ip_unprivileged_port_start (1024 by default), or lower that sysctl", port)
		}
		_ = send(c, r)
		return
	}
	defer f.Close()
	_ = send(c, reply{}, f)
}

func bindHost(proto, addr string) (*os.File, error) {
	switch proto {
	case "tcp":
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return nil, err
		}
		defer l.Close()
		return l.(*net.TCPListener).File()
	case "udp":
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.(*net.UDPConn).File()
	}
	return nil, fmt.Errorf("unknown protocol %q", proto)
}
