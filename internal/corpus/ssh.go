package corpus

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// SSHUser is the only user the ssh server lets in, as on the usual git hosts (git@host:repo).
const SSHUser = "git"

// SSHServer serves the bare repositories under a base directory to git over ssh, for reading only:
// public-key authentication of user "git" with the authorized keys, then one
// `git-upload-pack '<path>'` per session, its path mapped into the base as a git host maps it
// (ssh://host/repo.git asks for /repo.git, git@host:repo.git for repo.git; a leading ~/ is the
// base too). Anything else (a shell, git-receive-pack, a path that is not a served repository) is
// refused. The GIT_PROTOCOL environment git sends is passed on, so protocol v2 is spoken as with
// any ssh git host.
//
// It is golang.org/x/crypto/ssh, not OpenSSH's sshd: the side under test is the client (OpenSSH's
// ssh run by git, for hoist and for BuildKit), and an in-process server needs no package, system
// user, privilege separation directory or sshd_config, so every run gets its own host key and
// port. Safe for concurrent use; Close stops it.
type SSHServer struct {
	base       string
	config     *ssh.ServerConfig
	hostKey    ssh.PublicKey
	authorized [][]byte // marshalled public keys

	mu     sync.Mutex
	closed bool
	ls     []net.Listener
	conns  map[net.Conn]bool
	cmds   map[*exec.Cmd]bool
	wg     sync.WaitGroup
}

// NewSSHServer makes a server with a fresh host key for the repositories under base.
func NewSSHServer(base string, authorized ...ssh.PublicKey) (*SSHServer, error) {
	_, hostPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signer, err := ssh.NewSignerFromKey(hostPriv)
	if err != nil {
		return nil, err
	}
	s := &SSHServer{base: base, hostKey: signer.PublicKey(), conns: map[net.Conn]bool{}, cmds: map[*exec.Cmd]bool{}}
	for _, k := range authorized {
		s.authorized = append(s.authorized, k.Marshal())
	}
	s.config = &ssh.ServerConfig{PublicKeyCallback: s.checkKey}
	s.config.AddHostKey(signer)
	return s, nil
}

// HostKey is the server's public host key.
func (s *SSHServer) HostKey() ssh.PublicKey { return s.hostKey }

func (s *SSHServer) checkKey(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if c.User() != SSHUser {
		return nil, fmt.Errorf("user %q is not %q", c.User(), SSHUser)
	}
	for _, a := range s.authorized {
		if bytes.Equal(a, key.Marshal()) {
			return &ssh.Permissions{}, nil
		}
	}
	return nil, errors.New("key not authorized")
}

// Serve accepts connections on l until Close (which closes l).
func (s *SSHServer) Serve(l net.Listener) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return
	}
	s.ls = append(s.ls, l)
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !s.add(func() { s.conns[c] = true }) {
			c.Close()
			return
		}
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// add runs f under the lock and counts one more goroutine, unless the server is closing.
func (s *SSHServer) add(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	f()
	s.wg.Add(1)
	return true
}

func (s *SSHServer) handle(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second)) // for the handshake
	sc, chans, reqs, err := ssh.NewServerConn(c, s.config)
	if err != nil {
		return
	}
	defer sc.Close()
	_ = c.SetDeadline(time.Time{})
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, creqs)
	}
}

// session serves one session channel: env requests (GIT_PROTOCOL only), then one exec.
func (s *SSHServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			ok := ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL"
			if ok {
				env = append(env, "GIT_PROTOCOL="+kv.Value)
			}
			_ = req.Reply(ok, nil)
		case "exec":
			var cmd struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &cmd); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			go ssh.DiscardRequests(reqs)
			status := s.exec(ch, cmd.Command, env)
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
			return
		default: // shell, pty-req, subsystem, ...: a git host gives none
			_ = req.Reply(false, nil)
		}
	}
}

// exec runs git-upload-pack for command on the channel and returns its exit status.
func (s *SSHServer) exec(ch ssh.Channel, command string, env []string) uint32 {
	repo, err := s.repoPath(command)
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "fatal: %v\n", err)
		return 128
	}
	cmd := exec.Command("git", "upload-pack", "--strict", repo)
	cmd.Env = append(append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1"), env...)
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 128
	}
	s.mu.Lock()
	if s.closed || cmd.Start() != nil {
		s.mu.Unlock()
		return 128
	}
	s.cmds[cmd] = true
	s.mu.Unlock()
	go func() { _, _ = io.Copy(stdin, ch); stdin.Close() }()
	err = cmd.Wait()
	s.mu.Lock()
	delete(s.cmds, cmd)
	s.mu.Unlock()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return uint32(ee.ExitCode())
	default:
		return 128
	}
}

var (
	uploadPackRe = regexp.MustCompile(`^git[ -]upload-pack '([^'\\!]*)'$`)
	repoNameRe   = regexp.MustCompile(`^[A-Za-z0-9_-]+\.git$`)
)

// repoPath maps the path of `git-upload-pack '<path>'` to a served repository.
func (s *SSHServer) repoPath(command string) (string, error) {
	m := uploadPackRe.FindStringSubmatch(command)
	if m == nil {
		return "", fmt.Errorf("only git-upload-pack is served (asked for %q)", command)
	}
	name := strings.TrimPrefix(strings.TrimPrefix(m[1], "/"), "~/")
	dir := filepath.Join(s.base, name)
	if fi, err := os.Stat(dir); !repoNameRe.MatchString(name) || err != nil || !fi.IsDir() {
		return "", fmt.Errorf("'%s' does not appear to be a git repository", m[1])
	}
	return dir, nil
}

// Close stops accepting, closes every connection and kills every git-upload-pack still running.
func (s *SSHServer) Close() {
	s.mu.Lock()
	s.closed = true
	for _, l := range s.ls {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	for cmd := range s.cmds {
		_ = cmd.Process.Kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// KnownHostsLine is the server's known_hosts line for addr (host:port; port 22 is written bare,
// another as [host]:port, as ssh looks it up).
func (s *SSHServer) KnownHostsLine(addr string) string {
	return knownhosts.Line([]string{knownhosts.Normalize(addr)}, s.hostKey)
}

// ListenSCP listens on port 22 of a loopback address of its own (127.x.y.z, chosen at random and
// tried again when taken), for scp-like URLs (git@host:repo.git), which cannot name a port: the
// client's ssh runs with no ssh config of ours (BuildKit's runs with -F /dev/null), so port 22 is
// the only one it dials. Binding port 22 needs root (or CAP_NET_BIND_SERVICE).
func ListenSCP() (net.Listener, error) {
	var err error
	for range 20 {
		var n [3]int64
		for i, max := range []int64{254, 256, 254} {
			v, rerr := rand.Int(rand.Reader, big.NewInt(max))
			if rerr != nil {
				return nil, rerr
			}
			n[i] = v.Int64()
		}
		addr := fmt.Sprintf("127.%d.%d.%d:22", n[0]+1, n[1], n[2]+1)
		l, lerr := net.Listen("tcp", addr)
		if lerr == nil {
			return l, nil
		}
		err = lerr
		if errors.Is(lerr, syscall.EACCES) {
			return nil, fmt.Errorf("scp-like git URLs need an ssh server on port 22: %w (run as root)", lerr)
		}
	}
	return nil, fmt.Errorf("no free loopback address for port 22 (a system sshd listening on 0.0.0.0:22?): %w", err)
}

// SSHAgent is an ssh agent (the agent protocol of ssh-agent, golang.org/x/crypto/ssh/agent) on a
// unix socket, holding throw-away keys. Close stops it and removes the socket.
type SSHAgent struct {
	Socket string
	l      net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

// StartSSHAgent serves an agent holding keys on the socket path sock (mode 0600).
func StartSSHAgent(sock string, keys ...crypto.PrivateKey) (*SSHAgent, error) {
	keyring := agent.NewKeyring()
	for _, k := range keys {
		if err := keyring.Add(agent.AddedKey{PrivateKey: k, Comment: "hoist corpus"}); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	a := &SSHAgent{Socket: sock, l: l, conns: map[net.Conn]bool{}}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			a.mu.Lock()
			if a.conns == nil {
				a.mu.Unlock()
				c.Close()
				return
			}
			a.conns[c] = true
			a.wg.Add(1)
			a.mu.Unlock()
			go func() {
				defer a.wg.Done()
				_ = agent.ServeAgent(keyring, c)
				c.Close()
			}()
		}
	}()
	return a, nil
}

// Close stops the agent.
func (a *SSHAgent) Close() {
	a.l.Close()
	a.mu.Lock()
	for c := range a.conns {
		c.Close()
	}
	a.conns = nil
	a.mu.Unlock()
	a.wg.Wait()
	os.Remove(a.Socket)
}

// NewSSHKey makes a throw-away ed25519 key pair.
func NewSSHKey() (ed25519.PrivateKey, ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sp, err := ssh.NewPublicKey(pub)
	return priv, sp, err
}

// writeKnownHosts writes a known_hosts file naming the server's key for each address.
func writeKnownHosts(path string, s *SSHServer, addrs ...string) error {
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(s.KnownHostsLine(a) + "\n")
	}
	return atomicfile.WriteFile(path, []byte(b.String()), 0o644)
}
