package testca

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
)

// TestNew: the server certificate verifies for 127.0.0.1 and localhost against the CA and no other
// pool, and the key file is private.
func TestNew(t *testing.T) {
	ca, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pemCA, err := os.ReadFile(ca.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemCA) {
		t.Fatal("no CA certificate in", ca.CACert)
	}
	pair, err := tls.LoadX509KeyPair(ca.ServerCert, ca.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	other, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, _ := os.ReadFile(other.CACert)
	otherPool := x509.NewCertPool()
	otherPool.AppendCertsFromPEM(otherPEM)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: otherPool, DNSName: "127.0.0.1"}); err == nil {
		t.Error("the certificate verifies against another run's CA")
	}
	fi, err := os.Stat(ca.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("server key mode %v, want 0600", fi.Mode().Perm())
	}
}
