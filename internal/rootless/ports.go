package rootless

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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
	Proto string `json:"proto"` // "tcp" or "udp"; connectProto: connect instead of bind
	Addr  string `json:"addr"`  // host:port, IPv4 (to bind) or a loopback address (to connect)
}

// connectProto asks the port helper for a TCP connection it made in the host's network namespace
// (HostDialer). A helper that predates it refuses it as an unknown protocol rather than binding.
const connectProto = "tcp-connect"

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

// HostDialer returns d's DialContext, except that inside the rootless namespaces a TCP connection
// to the loopback (127.0.0.0/8, ::1, localhost) is made by the port helper in the host's network
// namespace and handed in: hoist's own requests (pulls of a FROM image, ADD of a URL, an http
// context) reach a registry or server on the host's loopback as root's hoist does. Containers
// and RUN steps do not get this: their loopback is their own.
func HostDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if !Active() {
		return d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		ip := net.ParseIP(host)
		if err != nil || !strings.HasPrefix(network, "tcp") || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return d.DialContext(ctx, network, addr)
		}
		return dialHost(ctx, addr)
	}
}

// dialHost asks the port helper to connect to addr on the host's loopback.
func dialHost(ctx context.Context, addr string) (net.Conn, error) {
	c, err := dial(portsSocket())
	if err != nil {
		return nil, fmt.Errorf("dial %s: the rootless port helper does not answer: %w", addr, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	if err := send(c, bindRequest{Proto: connectProto, Addr: addr}); err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	var r reply
	files, err := recv(c, &r)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if r.Error != "" || len(files) != 1 {
		closeAll(files)
		if r.Errno != 0 {
			return nil, fmt.Errorf("dial %s: %s: %w", addr, r.Error, syscall.Errno(r.Errno))
		}
		return nil, fmt.Errorf("dial %s: %s", addr, r.Error)
	}
	defer files[0].Close()
	return net.FileConn(files[0])
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
	up, err := connectNetwork(pid)
	if err != nil {
		fmt.Fprintf(os.Stderr, "WARNING: %v\n", err)
		if err := recordUplink("", err); err != nil {
			return err
		}
	}
	go func() { // the server ended: so do we, and the uplink
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		for {
			if _, err := unix.Poll(fds, -1); err == nil || !errors.Is(err, unix.EINTR) {
				break
			}
		}
		l.Close()
		up.stop()
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
	var f *os.File
	if req.Proto == connectProto {
		f, err = connectHost(req.Addr)
	} else {
		f, err = bindHost(req.Proto, req.Addr)
	}
	if err != nil {
		r := reply{Error: err.Error()}
		var errno syscall.Errno
		switch {
		case req.Proto == connectProto:
			if errors.As(err, &errno) {
				r.Errno = int(errno) // ECONNREFUSED: the caller's error reads as a direct dial's
			}
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

// connectHost connects to addr, which must be on the loopback: the helper is no general proxy.
func connectHost(addr string) (*os.File, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("%s is not a loopback address", addr)
	}
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.(*net.TCPConn).File()
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
