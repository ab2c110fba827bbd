package rootless

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// The uplink: the program that gives the server's network namespace a route to the outside. Inside,
// hoist's bridge hoist0 and its NAT rule work as for root; the uplink carries what leaves the
// namespace. Published ports do not go through it (see BindHost), nor do hoist's own connections to
// the host's loopback (HostDialer).
//
// Two programs can do it, both run by the port helper outside the namespaces, both stopped with the
// server; slirp4netns is preferred where both are installed, as podman 4 (Debian bookworm's) does:
// bookworm's pasta (passt 2023-03-09) delivers a connection's data but not the far end's FIN, so a
// client that reads until the connection closes (nc, an HTTP/1.0 reply without a length) waits for
// ever; slirp4netns passes it (TestRootlessNetwork shows both):
//
//   - pasta (Debian's passt): copies the host's address and routes into the namespace, with
//     --no-map-gw (by default it turns connections to the gateway's address into connections to the
//     host's loopback, which would open the host's 127.0.0.1 services to every container);
//   - slirp4netns: a tap0 of 10.0.2.100/24 behind a user-mode TCP/IP stack (gateway 10.0.2.2, DNS
//     10.0.2.3), run as podman and rootlesskit run it, with --disable-host-loopback (10.0.2.2 is
//     otherwise the host's 127.0.0.1), --configure (it brings tap0 up and sets the route itself) and
//     --ready-fd (it reports when that is done).
//
// Which one runs, or why none does, is written to uplinkFile for `hoist info` ([Inspect]) and for
// the command that started the server, which warns when there is none ([warnNoUplink]).

// Uplink names.
const (
	UplinkPasta       = "pasta"
	UplinkSlirp4netns = "slirp4netns"
)

// uplinkFile names the uplink the port helper started, in the runtime directory.
func uplinkFile() string { return filepath.Join(RuntimeDir(), "uplink") }

// noNet ends the warning the port helper logs when there is no uplink.
const noNet = "containers and RUN steps of this rootless hoist have no network access outside the host " +
	"(--network none works; published ports and pulls do not depend on it)"

// errNoUplink is the reason no uplink runs when neither program is installed.
var errNoUplink = errors.New("neither pasta (Debian package passt) nor slirp4netns (Debian package slirp4netns) " +
	"is installed: " + noNet)

// uplinkProgram picks the uplink: slirp4netns where it is on PATH, else pasta.
func uplinkProgram() (name, path string, err error) {
	for _, name := range []string{UplinkSlirp4netns, UplinkPasta} {
		if path, err := exec.LookPath(name); err == nil {
			return name, path, nil
		}
	}
	return "", "", errNoUplink
}

// connectNetwork connects the network namespace of the server pid to the outside and returns the
// uplink's process, running: the port helper kills it when the server ends. It returns once the
// namespace has its route, so that the first command (a build's RUN apt-get, hoist info) finds it
// connected. Without an uplink the namespace has only its loopback and hoist's bridge.
func connectNetwork(pid int) (*uplink, error) {
	_ = os.Remove(uplinkFile())
	name, prog, err := uplinkProgram()
	if err != nil {
		return nil, err
	}
	if err := accessTun(); err != nil {
		return nil, fmt.Errorf("/dev/net/tun: %w (%s needs it; Debian's default mode is 0666): %s", err, name, noNet)
	}
	var u *uplink
	switch name {
	case UplinkPasta:
		u, err = startPasta(prog, pid)
	default:
		u, err = startSlirp4netns(prog, pid)
	}
	if err != nil {
		return u, err
	}
	return u, recordUplink(name, nil)
}

// recordUplink writes the uplink's name, or "none" and why, to uplinkFile.
func recordUplink(name string, why error) error {
	data := name + "\n"
	if why != nil {
		data = "none\n" + why.Error() + "\n"
	}
	if err := atomicfile.WriteFile(uplinkFile(), []byte(data), 0o600); err != nil {
		return fmt.Errorf("recording the uplink: %w", err)
	}
	return nil
}

// recordedUplink is the uplink the port helper recorded ("" when none) and, without one, why.
func recordedUplink() (name, why string) {
	b, err := os.ReadFile(uplinkFile())
	if err != nil {
		return "", "the rootless port helper recorded no uplink"
	}
	name, why, _ = strings.Cut(strings.TrimSpace(string(b)), "\n")
	if name == "none" {
		return "", why
	}
	return name, ""
}

// warnNoUplink prints, once per server start, why containers and RUN steps have no network outside.
func warnNoUplink(w io.Writer) {
	if name, why := recordedUplink(); name == "" {
		fmt.Fprintf(w, "WARNING: %s\n", why)
	}
}

// uplink is a running uplink program.
type uplink struct {
	cmd *exec.Cmd
	// exit, when set, is the write end of the program's exit pipe (slirp4netns's --exit-fd).
	exit *os.File
}

// stop ends the uplink program.
func (u *uplink) stop() {
	if u == nil {
		return
	}
	if u.exit != nil {
		u.exit.Close()
	}
	_ = u.cmd.Process.Kill()
}

func accessTun() error {
	f, err := os.OpenFile("/dev/net/tun", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// startPasta runs pasta in the foreground for the namespace of pid and waits for its interface
// to appear there (/proc/PID/net/dev shows PID's network namespace).
func startPasta(prog string, pid int) (*uplink, error) {
	cmd := exec.Command(prog, "--config-net", "--foreground", "--quiet", "--no-map-gw",
		"-t", "none", "-u", "none", "-T", "none", "-U", "none", fmt.Sprint(pid))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // the port helper's: the log
	// The helper kills pasta when the server ends; should the helper itself be killed, so is pasta.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pasta: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid)); err == nil && hasUplink(string(b)) {
			return &uplink{cmd: cmd}, nil
		}
		select {
		case <-exited:
			return nil, fmt.Errorf("pasta exited before it connected the namespace: %s", noNet)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return &uplink{cmd: cmd}, fmt.Errorf("pasta did not connect the namespace within 10 s: %s until it does", noNet)
		}
	}
}

// slirpMTU is the tap's MTU, podman's and rootlesskit's: large frames make slirp4netns's copies fewer.
const slirpMTU = 65520

// startSlirp4netns runs slirp4netns for the namespace of pid, configuring tap0 there, and waits
// for its ready descriptor. Its exit descriptor is a pipe whose write end only the helper holds:
// slirp4netns ends when the helper does, however it ends.
func startSlirp4netns(prog string, pid int) (*uplink, error) {
	readyR, readyW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer readyR.Close()
	exitR, exitW, err := os.Pipe()
	if err != nil {
		readyW.Close()
		return nil, err
	}
	defer exitR.Close()
	cmd := exec.Command(prog, "--configure", fmt.Sprintf("--mtu=%d", slirpMTU), "--disable-host-loopback",
		"--ready-fd=3", "--exit-fd=4", fmt.Sprint(pid), "tap0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr // the port helper's: the log
	cmd.ExtraFiles = []*os.File{readyW, exitR}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		exitW.Close()
		return nil, fmt.Errorf("slirp4netns: %w", err)
	}
	u := &uplink{cmd: cmd, exit: exitW} // exitW stays open in the helper alone
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		_, err := readyR.Read(b[:])
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return u, nil
		}
		if errors.Is(err, io.EOF) {
			exitW.Close()
			return nil, fmt.Errorf("slirp4netns exited before it connected the namespace (%v): %s", <-exited, noNet)
		}
		return u, fmt.Errorf("slirp4netns: reading its ready descriptor: %w: %s", err, noNet)
	case <-time.After(10 * time.Second):
		return u, fmt.Errorf("slirp4netns did not connect the namespace within 10 s: %s until it does", noNet)
	}
}

// hasUplink reports whether a /proc/net/dev listing has an interface other than loopback and
// hoist's own (the bridge, veths): the uplink's.
func hasUplink(netdev string) bool {
	for _, line := range strings.Split(netdev, "\n") {
		name, _, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		if ok && name != "lo" && !strings.HasPrefix(name, "hoist") && !strings.HasPrefix(name, "veth") {
			return true
		}
	}
	return false
}
