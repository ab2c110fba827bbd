package rootless

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hoistbuild/hoist/run"
)

// Descriptors of the server's first stage, set up by the client (startServer).
const (
	mapFd   = 3 // closed by the client once the id mapping is written
	readyFd = 4 // the server writes one byte here when it accepts connections
)

// readySent is set once readyFd is closed: from then on descriptor 4 may be anything.
var readySent bool

// idleExit is how long the server stays up without a connection and with no other process in its
// user namespace.
var idleExit = 5 * time.Minute

// MaybeServe must be called early in main, after the sandbox's own re-exec hooks. When os.Args[1]
// is ServerArg the process is the rootless server (or its first stage) and MaybeServe never returns.
func MaybeServe() {
	if len(os.Args) < 4 || os.Args[1] != ServerArg {
		return
	}
	var err error
	switch os.Args[2] {
	case "wait":
		err = waitMapped(os.Args[3])
	case "serve":
		err = serve(os.Args[3])
	case "ports":
		err = servePorts(os.Args[3])
	case "dial": // ssh's ProxyCommand for git (GitConfig): HOST PORT
		if len(os.Args) == 5 {
			if err = spliceStdio(net.JoinHostPort(os.Args[3], os.Args[4])); err == nil {
				os.Exit(0)
			}
		} else {
			err = errors.New("usage: dial HOST PORT")
		}
		fmt.Fprintf(os.Stderr, "hoist rootless dial: %v\n", err)
		os.Exit(1)
	default:
		err = fmt.Errorf("unknown stage %q", os.Args[2])
	}
	fmt.Fprintf(os.Stderr, "hoist rootless server: %v\n", err)
	if !readySent {
		// Before it reports ready, the client reads the reason from readyFd.
		fmt.Fprintf(os.NewFile(readyFd, "ready"), "E%v", err)
	}
	os.Exit(1)
}

// waitMapped is the first stage, started in the new namespaces before they had an id mapping: its
// uid there was unmapped when it was exec'd, so it holds no capabilities. Once the client has
// written the mapping (and closed mapFd), its uid is 0 in the namespace and exec'ing hoist again
// gives it root's capabilities there.
func waitMapped(sock string) error {
	f := os.NewFile(mapFd, "map")
	var b [1]byte
	if _, err := f.Read(b[:]); err != nil || b[0] != 'M' {
		return errors.New("the client did not write the id mapping")
	}
	f.Close()
	if err := unix.Setresgid(0, 0, 0); err != nil {
		return fmt.Errorf("setresgid: %w", err)
	}
	if err := unix.Setresuid(0, 0, 0); err != nil {
		return fmt.Errorf("setresuid: %w", err)
	}
	// Every hoist process marks inherited descriptors close-on-exec when it starts (run.MaybeInit):
	// the ready pipe must survive this exec.
	if _, err := unix.FcntlInt(readyFd, unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("keeping the ready pipe: %w", err)
	}
	return unix.Exec("/proc/self/exe", []string{os.Args[0], ServerArg, "serve", sock}, os.Environ())
}

// serve is the server proper: root of the user namespace, in its own mount and network namespace.
func serve(sock string) error {
	if os.Geteuid() != 0 {
		return errors.New("not root in the user namespace")
	}
	// Mounts made in here must never propagate back, and the host's later mounts still show.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("making mounts slave: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	_ = os.Remove(sock)
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return err
	}
	l.SetUnlinkOnClose(true)
	pidFile := filepath.Join(filepath.Dir(sock), "rootless.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}
	ready := os.NewFile(readyFd, "ready")
	if _, err := ready.Write([]byte{'R'}); err != nil {
		return fmt.Errorf("reporting ready: %w", err)
	}
	ready.Close()
	readySent = true
	// Our standard descriptors go to the log file the client opened; stdin is /dev/null.
	s := &server{listener: l, last: time.Now()}
	go s.reapIdle()
	go s.stopOnSignal()
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if s.closing() {
				s.waitIdle() // `hoist system stop` is itself a connection: it gets its exit status
				os.Exit(0)
			}
			return err
		}
		s.track(1)
		go func() {
			defer s.track(-1)
			s.handle(c)
		}()
	}
}

type server struct {
	listener *net.UnixListener
	mu       sync.Mutex
	active   int
	last     time.Time
	stopping bool
}

func (s *server) track(d int) {
	s.mu.Lock()
	s.active += d
	s.last = time.Now()
	s.mu.Unlock()
}

// stopOnSignal closes the listener on SIGTERM (`hoist system stop`): no new command is accepted.
func (s *server) stopOnSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	<-sigs
	s.mu.Lock()
	s.stopping = true
	s.listener.Close()
	s.mu.Unlock()
}

// waitIdle returns once no connection is being served.
func (s *server) waitIdle() {
	for {
		s.mu.Lock()
		n := s.active
		s.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// reapIdle ends the server once nothing uses it: no connection for idleExit and no other process
// in the user namespace (a detached container, a build started by a killed client).
func (s *server) reapIdle() {
	for range time.Tick(idleExit / 5) {
		s.mu.Lock()
		idle := s.active == 0 && time.Since(s.last) >= idleExit
		if idle && !othersInUserns() {
			s.stopping = true
			s.listener.Close()
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// othersInUserns reports whether a process other than this one (and pasta) lives in our user
// namespace.
func othersInUserns() bool { return len(othersInUsernsExcept(os.Getpid())) > 0 }

// handle runs one client's command.
func (s *server) handle(c *net.UnixConn) {
	defer c.Close()
	var req request
	files, err := recv(c, &req)
	if err != nil {
		return
	}
	defer closeAll(files)
	if err := checkPeer(c); err != nil {
		_ = send(c, reply{Error: err.Error()})
		return
	}
	if req.Version != protoVersion {
		_ = send(c, reply{Error: fmt.Sprintf("protocol version %d, the running rootless server speaks %d: "+
			"stop it (kill the process named %q) and retry", req.Version, protoVersion, ServerArg)})
		return
	}
	if len(files) != 4 || len(req.Args) == 0 {
		_ = send(c, reply{Error: "malformed request"})
		return
	}
	// Each command gets a mount namespace of its own, as root's commands that mount get one by
	// re-executing themselves (run.ReexecPrivateMounts): made here, it costs a clone flag instead
	// of a second process.
	cmd := &exec.Cmd{
		Path:        "/proc/self/fd/" + strconv.Itoa(int(files[0].Fd())),
		Args:        req.Args,
		Env:         append(req.Env, insideEnv+"=1", run.PrivateMountsEnv+"=1"),
		Dir:         req.Dir,
		Stdin:       files[1],
		Stdout:      files[2],
		Stderr:      files[3],
		SysProcAttr: &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS},
	}
	if err := cmd.Start(); err != nil {
		_ = send(c, reply{Error: err.Error()})
		return
	}
	if err := send(c, reply{Pid: cmd.Process.Pid}); err != nil {
		_ = cmd.Process.Kill()
	}
	done := make(chan struct{})
	go relaySignals(c, cmd.Process, done)
	_ = cmd.Wait()
	close(done)
	code := statusOf(cmd.ProcessState)
	_ = send(c, reply{Exit: &code})
}

// relaySignals delivers the client's signals to p; a client gone before p ends kills p.
func relaySignals(c *net.UnixConn, p *os.Process, done <-chan struct{}) {
	for {
		var m reply
		files, err := recv(c, &m)
		closeAll(files)
		select {
		case <-done:
			return
		default:
		}
		if err != nil {
			_ = p.Kill()
			return
		}
		if m.Signal > 0 && m.Signal < 65 {
			_ = p.Signal(syscall.Signal(m.Signal))
		}
	}
}

// checkPeer accepts only processes of the user who owns the namespace (uid 0 as seen from inside).
func checkPeer(c *net.UnixConn) error { return checkPeerUID(c, 0) }

// checkPeerUID accepts only a peer process whose uid (as this process's user namespace sees it) is uid.
func checkPeerUID(c *net.UnixConn, uid int) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return cerr
	}
	if int(cred.Uid) != uid {
		return fmt.Errorf("refusing a client of another user (uid %d)", cred.Uid)
	}
	return nil
}

func statusOf(ps *os.ProcessState) int {
	if ps == nil {
		return 125
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// loopbackUp brings lo up in the server's new network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	return nil
}
