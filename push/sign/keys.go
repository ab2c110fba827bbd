package sign

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

// PEM block types of cosign's key files. cosign writes the sigstore type since v2 and still reads
// the older cosign one; both hold the same thing: a PKCS #8 private key encrypted by
// go-securesystemslib's encrypted package (scrypt N=65536 r=8 p=1, nacl/secretbox), as JSON.
const (
	sigstorePrivateKeyType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	cosignPrivateKeyType   = "ENCRYPTED COSIGN PRIVATE KEY"
	publicKeyType          = "PUBLIC KEY"
)

// ErrWrongPassword means a private key file did not decrypt with the password given.
var ErrWrongPassword = errors.New("wrong password for the private key (or a damaged key file)")

// KeyPair is a generated key pair as cosign's files hold it.
type KeyPair struct {
	// Private is the encrypted private key PEM (cosign.key); Public the PKIX public key PEM
	// (cosign.pub).
	Private, Public []byte
}

// GenerateKeyPair makes an ECDSA P-256 key pair (cosign generate-key-pair's default) and encrypts the
// private key with password exactly as cosign does, so cosign reads it and hoist reads cosign's. An
// empty password is allowed (cosign allows it too).
func GenerateKeyPair(password []byte) (KeyPair, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return KeyPair{}, err
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return KeyPair{}, fmt.Errorf("encrypting the private key: %w", err)
	}
	pub, err := MarshalPublicKey(&priv.PublicKey)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Private: pem.EncodeToMemory(&pem.Block{Type: sigstorePrivateKeyType, Bytes: enc}), Public: pub}, nil
}

// MarshalPublicKey is pub as cosign.pub holds it: a PKIX "PUBLIC KEY" PEM block.
func MarshalPublicKey(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicKeyType, Bytes: der}), nil
}

// ParsePrivateKey decrypts an encrypted cosign or sigstore private key PEM with password. Only ECDSA
// keys are accepted (cosign's default; RSA and ed25519 keys are refused with an error naming them).
// A wrong password gives an error wrapping ErrWrongPassword.
func ParsePrivateKey(pemBytes, password []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, errors.New("not a PEM file")
	}
	if b.Type != sigstorePrivateKeyType && b.Type != cosignPrivateKeyType {
		return nil, fmt.Errorf("PEM block %q: want an %q (cosign generate-key-pair's format)", b.Type, sigstorePrivateKeyType)
	}
	der, err := encrypted.Decrypt(b.Bytes, password)
	if err != nil {
		if err.Error() == "encrypted: decryption failed" {
			return nil, ErrWrongPassword
		}
		return nil, fmt.Errorf("decrypting the private key: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the private key: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("a %T private key: hoist signs with ECDSA keys only", k)
	}
	return ec, nil
}

// ParsePublicKey reads a PKIX "PUBLIC KEY" PEM (cosign.pub). Only ECDSA keys are accepted.
func ParsePublicKey(pemBytes []byte) (*ecdsa.PublicKey, error) {
	b, _ := pem.Decode(pemBytes)
	if b == nil {
		return nil, errors.New("not a PEM file")
	}
	if b.Type != publicKeyType {
		return nil, fmt.Errorf("PEM block %q: want a %q", b.Type, publicKeyType)
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the public key: %w", err)
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T public key: hoist verifies ECDSA keys only", k)
	}
	return ec, nil
}

// WriteKeyPair writes kp to prefix.key (mode 0600) and prefix.pub (0644), each atomically. Unless
// force, it refuses (writing nothing) when either file exists. When the public key cannot be
// written after the private key was, a private key file this call created is removed again.
func WriteKeyPair(kp KeyPair, prefix string, force bool) (keyPath, pubPath string, err error) {
	keyPath, pubPath = prefix+".key", prefix+".pub"
	existed := map[string]bool{}
	for _, p := range []string{keyPath, pubPath} {
		_, err := os.Lstat(p)
		existed[p] = err == nil
		if err == nil && !force {
			return "", "", fmt.Errorf("%s already exists: give --force to overwrite it", p)
		}
	}
	if err := atomicfile.WriteFile(keyPath, kp.Private, 0o600); err != nil {
		return "", "", fmt.Errorf("writing %s: %w", keyPath, err)
	}
	if err := atomicfile.WriteFile(pubPath, kp.Public, 0o644); err != nil {
		if !existed[keyPath] {
			os.Remove(keyPath)
		}
		return "", "", fmt.Errorf("writing %s: %w", pubPath, err)
	}
	return keyPath, pubPath, nil
}
