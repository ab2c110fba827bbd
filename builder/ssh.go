package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/run"
)

// DefaultSSHID is the id of `--ssh default` and of RUN --mount=type=ssh without id=.
const DefaultSSHID = "default"

// SSH is one --ssh value: an ssh agent made available to RUN --mount=type=ssh,id=ID. Paths hold
// either one agent socket or private key files that hoist serves from an agent of its own (no
// passphrase), as BuildKit's client does; none means the caller's SSH_AUTH_SOCK.
type SSH struct {
	ID    string
	Paths []string
}

// ParseSSH parses --ssh ID[=PATH[,PATH...]] as buildx does; authSock is the caller's SSH_AUTH_SOCK,
// used when no path is given. The paths are checked now: a missing agent is a clear error before
// anything is built.
func ParseSSH(spec, authSock string) (SSH, error) {
	id, paths, _ := strings.Cut(spec, "=")
	s := SSH{ID: id}
	if s.ID == "" {
		s.ID = DefaultSSHID
	}
	if paths != "" {
		s.Paths = strings.Split(paths, ",")
	}
	if len(s.Paths) == 0 {
		if authSock == "" {
			return s, fmt.Errorf("--ssh %s: no ssh agent: SSH_AUTH_SOCK is not set (start ssh-agent, or give key files: --ssh %s=$HOME/.ssh/id_ed25519)", spec, s.ID)
		}
		s.Paths = []string{authSock}
	}
	if _, err := s.source(); err != nil {
		return s, fmt.Errorf("--ssh %s: %w", spec, err)
	}
	return s, nil
}

// agentSource is where an ssh mount's connections go: an agent socket, or a keyring.
type agentSource struct {
	socket  string
	keyring agent.Agent
}

// source checks the paths (BuildKit's rules: one socket, or key files, not both) and loads the keys.
func (s SSH) source() (agentSource, error) {
	var src agentSource
	keyring := agent.NewKeyring()
	keys := false
	for _, p := range s.Paths {
		if src.socket != "" {
			return src, errors.New("only a single agent socket is allowed")
		}
		fi, err := os.Stat(p)
		if err != nil {
			return src, fmt.Errorf("ssh agent or key: %w", err)
		}
		if fi.Mode()&os.ModeSocket != 0 {
			src.socket = p
			continue
		}
		data, err := readLimited(p, 100<<10)
		if err != nil {
			return src, err
		}
		k, err := ssh.ParseRawPrivateKey(data)
		if err != nil {
			return src, fmt.Errorf("parsing private key %s: %w", p, err)
		}
		if err := keyring.Add(agent.AddedKey{PrivateKey: k}); err != nil {
			return src, fmt.Errorf("adding %s to the agent: %w", p, err)
		}
		keys = true
	}
	if src.socket != "" && keys {
		return src, errors.New("invalid combination of keys and sockets")
	}
	if keys {
		src.keyring = keyring
	}
	return src, nil
}

func readLimited(p string, n int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// sshMount adds RUN --mount=type=ssh: a socket at target (default /run/buildkit/ssh_agent.N) that
// forwards to the agent of --ssh ID, and SSH_AUTH_SOCK pointing at the first one unless the step's
// environment sets it. Nothing of the agent enters the key or a layer: the socket lives in the
// build's scratch dir and is bind-mounted for the step only.
func (sr *stageRun) sshMount(rm *runMounts, m parser.RunMount, target string, n int) error {
	if m.Source != "" {
		return errors.New("--mount=type=ssh: ssh does not support source")
	}
	id := m.ID
	if id == "" {
		id = DefaultSSHID
	}
	if target == "" {
		target = fmt.Sprintf("/run/buildkit/ssh_agent.%d", n)
	}
	mode, uid, gid := uint64(0o600), uint64(0), uint64(0)
	if m.Mode != nil {
		mode = *m.Mode
	}
	if m.UID != nil {
		uid = *m.UID
	}
	if m.GID != nil {
		gid = *m.GID
	}
	s, ok := sr.bd.opts.SSH[id]
	if !ok {
		if m.Required {
			return fmt.Errorf("no SSH key %q forwarded from the client (--ssh %s)", id, id)
		}
		rm.key = append(rm.key, "ssh-absent:"+id+":"+target)
		return nil
	}
	if n == 0 {
		rm.sshSock = target
	}
	scratch := sr.bd.scratch
	rm.makes = append(rm.makes, func(ctx context.Context) (run.Mount, func(), error) {
		sock, stop, err := serveAgent(ctx, s, scratch.path)
		if err != nil {
			return run.Mount{}, nil, fmt.Errorf("--mount=type=ssh,id=%s: %w", id, err)
		}
		if err := os.Chown(sock, int(uid), int(gid)); err == nil {
			err = os.Chmod(sock, os.FileMode(mode))
		} else {
			stop()
			return run.Mount{}, nil, err
		}
		return run.Mount{Type: "bind", Source: sock, Target: target}, stop, nil
	})
	rm.key = append(rm.key, fmt.Sprintf("ssh:%s:%s:%o:%d:%d", id, target, mode, uid, gid))
	return nil
}

// serveAgent listens on a new socket under dir and serves the agent of s on it until stop: each
// connection is proxied to the agent socket, or answered from the keyring.
func serveAgent(ctx context.Context, s SSH, dir string) (string, func(), error) {
	src, err := s.source()
	if err != nil {
		return "", nil, err
	}
	sockDir, err := os.MkdirTemp(dir, "ssh-")
	if err != nil {
		return "", nil, err
	}
	sock := filepath.Join(sockDir, "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		os.RemoveAll(sockDir)
		return "", nil, err
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				serveConn(ctx, c, src)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
				c.Close()
			}()
		}
	}()
	stop := func() {
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
		os.RemoveAll(sockDir)
	}
	return sock, stop, nil
}

// serveConn answers one client of the forwarded socket.
func serveConn(ctx context.Context, c net.Conn, src agentSource) {
	if src.keyring != nil {
		_ = agent.ServeAgent(src.keyring, c)
		return
	}
	var d net.Dialer
	up, err := d.DialContext(ctx, "unix", src.socket)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
}
