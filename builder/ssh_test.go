package builder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// writeKey writes a new unencrypted ed25519 private key in OpenSSH format and returns its path and
// public key.
func writeKey(t *testing.T, dir string) (string, ssh.PublicKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return p, sp
}

// listKeys asks the agent on sock for its keys, as ssh-add -L does.
func listKeys(t *testing.T, sock string) []*agent.Key {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := agent.NewClient(c).List()
	if err != nil {
		t.Fatalf("listing keys through %s: %v", sock, err)
	}
	return keys
}

// TestSSHAgentFromKeys: --ssh ID=KEYFILE serves the key from hoist's own agent, which signs with it.
func TestSSHAgentFromKeys(t *testing.T) {
	dir := t.TempDir()
	key, pub := writeKey(t, dir)
	s, err := ParseSSH("deploy="+key, "")
	if err != nil {
		t.Fatal(err)
	}
	sock, stop, err := serveAgent(context.Background(), s, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	keys := listKeys(t, sock)
	if len(keys) != 1 || !bytes.Equal(keys[0].Marshal(), pub.Marshal()) {
		t.Fatalf("agent holds %v, want the key of %s", keys, key)
	}
	c, _ := net.Dial("unix", sock)
	defer c.Close()
	sig, err := agent.NewClient(c).Sign(pub, []byte("data"))
	if err != nil || pub.Verify([]byte("data"), sig) != nil {
		t.Errorf("signature through the agent: %v", err)
	}
	stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after stop: %v", err)
	}
}

// TestSSHAgentForwardsSocket: --ssh default (SSH_AUTH_SOCK) forwards every connection to that agent.
func TestSSHAgentForwardsSocket(t *testing.T) {
	dir := t.TempDir()
	key, pub := writeKey(t, dir)
	upstream := filepath.Join(dir, "upstream.sock")
	l, err := net.Listen("unix", upstream)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	kr := agent.NewKeyring()
	raw, _ := os.ReadFile(key)
	pk, _ := ssh.ParseRawPrivateKey(raw)
	kr.Add(agent.AddedKey{PrivateKey: pk})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { agent.ServeAgent(kr, c); c.Close() }()
		}
	}()
	s, err := ParseSSH("default", upstream)
	if err != nil {
		t.Fatal(err)
	}
	sock, stop, err := serveAgent(context.Background(), s, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for i := 0; i < 2; i++ { // each connection is forwarded on its own
		if keys := listKeys(t, sock); len(keys) != 1 || !bytes.Equal(keys[0].Marshal(), pub.Marshal()) {
			t.Fatalf("forwarded agent holds %v", keys)
		}
	}
}

func TestParseSSHErrors(t *testing.T) {
	dir := t.TempDir()
	key, _ := writeKey(t, dir)
	notKey := filepath.Join(dir, "not-a-key")
	os.WriteFile(notKey, []byte("hello"), 0o600)
	sock := filepath.Join(dir, "s.sock")
	l, _ := net.Listen("unix", sock)
	defer l.Close()
	for _, tc := range []struct{ spec, authSock, want string }{
		{"default", "", "SSH_AUTH_SOCK is not set"},
		{"default=" + filepath.Join(dir, "missing"), "", "no such file"},
		{"default=" + notKey, "", "parsing private key"},
		{"x=" + sock + "," + key, "", "only a single agent socket"},
		{"x=" + key + "," + sock, "", "invalid combination of keys and sockets"},
	} {
		_, err := ParseSSH(tc.spec, tc.authSock)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "--ssh ") {
			t.Errorf("ParseSSH(%q) = %v, want an --ssh error containing %q", tc.spec, err, tc.want)
		}
	}
	if s, err := ParseSSH("=", sock); err != nil || s.ID != DefaultSSHID || s.Paths[0] != sock {
		t.Errorf("ParseSSH(=) = %+v, %v", s, err)
	}
}
