package testutil

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/hoistbuild/hoist/internal/testca"
)

// TestCA is a certificate authority made for one test, with a server certificate for 127.0.0.1 and
// localhost. All paths are PEM files in a temp dir.
type TestCA struct {
	CACert, ServerCert, ServerKey string
}

// NewCA makes a fresh CA and a server certificate signed by it (internal/testca).
func NewCA(t testing.TB) TestCA {
	t.Helper()
	ca, err := testca.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return TestCA{CACert: ca.CACert, ServerCert: ca.ServerCert, ServerKey: ca.ServerKey}
}

// Htpasswd writes an htpasswd file with one bcrypt entry and returns its path.
func Htpasswd(t testing.TB, user, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(p, []byte(user+":"+string(h)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
