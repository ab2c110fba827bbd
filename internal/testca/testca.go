// Package testca makes throw-away certificate authorities for tests and the corpus servers: a CA and
// one server certificate for 127.0.0.1 and localhost, valid for a day. It imports no testing
// package, so the golden recorder (hack/record-golden) can use it too.
package testca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"time"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// CA is a certificate authority written as PEM files into one directory.
type CA struct {
	CACert     string // the CA's certificate: what a client must trust
	ServerCert string // a certificate for 127.0.0.1 and localhost signed by the CA
	ServerKey  string // its private key (mode 0600)
}

// New makes a fresh CA and a server certificate signed by it, and writes them into dir.
func New(dir string) (CA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CA{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return CA{}, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "hoist test CA " + serial.Text(16)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return CA{}, fmt.Errorf("creating the CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return CA{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return CA{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return CA{}, fmt.Errorf("creating the server certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return CA{}, err
	}
	ca := CA{filepath.Join(dir, "ca.crt"), filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")}
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{ca.CACert, "CERTIFICATE", caDER}, {ca.ServerCert, "CERTIFICATE", der}, {ca.ServerKey, "EC PRIVATE KEY", keyDER}} {
		if err := atomicfile.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			return CA{}, err
		}
	}
	return ca, nil
}
