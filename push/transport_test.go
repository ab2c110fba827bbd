package push

import (
	"context"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

func TestPlainHTTPPolicy(t *testing.T) {
	o := Options{Registries: Config{
		Insecure:        []string{"reg.lan:5000", "10.1.0.0/16"},
		RegistryMirrors: []string{"http://mirror.lan:5000"},
	}}
	for host, want := range map[string]bool{
		"127.0.0.1:5000":       true,
		"localhost:5000":       true,
		"[::1]:5000":           true,
		"reg.lan:5000":         true,
		"reg.lan":              false,
		"10.1.2.3:5000":        true,
		"10.2.0.1:5000":        false,
		"192.168.1.1:5000":     false, // RFC 1918 is not enough (ggcr would allow it; docker does not)
		"mirror.lan:5000":      true,
		"registry.example.com": false,
	} {
		if got := o.plainHTTPAllowed(host); got != want {
			t.Errorf("plainHTTPAllowed(%s) = %v, want %v", host, got, want)
		}
	}
	if !(Options{SkipTLSVerify: true}).plainHTTPAllowed("registry.example.com") {
		t.Errorf("SkipTLSVerify does not allow plain HTTP")
	}
}

func TestTransportRefusesPlainHTTP(t *testing.T) {
	rt := Options{}.transport()
	req := httptest.NewRequest("GET", "http://registry.example.com/v2/", nil)
	if _, err := rt.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "refusing plain HTTP") {
		t.Errorf("plain HTTP to a public registry: %v", err)
	}
}

// TestCertsDir serves a registry over TLS with a certificate from a CA unknown to the system and
// shows docker's certs.d layout making it trusted, and --tls-verify=false working without it.
func TestCertsDir(t *testing.T) {
	srv := httptest.NewTLSServer(registry.New(registry.Logger(nopLogger())))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	st := newStore(t)
	_, h := storeRandom(t, st, 1)
	ref := mustRef(t, host+"/tls/app:1")
	ctx := context.Background()

	o := testOptions()
	o.Backoff.Steps = 1
	o.CertsDir = t.TempDir()
	if _, err := Push(ctx, st, h, ref, o); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("push to an untrusted TLS registry: %v", err)
	}
	dir := filepath.Join(o.CertsDir, host)
	os.MkdirAll(dir, 0o755)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(ctx, st, h, ref, o); err != nil {
		t.Fatalf("push with certs.d/%s/ca.crt: %v", host, err)
	}
	o.CertsDir = ""
	o.SkipTLSVerify = true
	if _, err := Pull(ctx, newStore(t), ref, o); err != nil {
		t.Fatalf("pull with SkipTLSVerify: %v", err)
	}
	// A .key without its .cert is a configuration error, reported.
	os.WriteFile(filepath.Join(dir, "client.key"), []byte("x"), 0o600)
	o = testOptions()
	o.CertsDir = filepath.Dir(dir)
	if _, err := Pull(ctx, newStore(t), ref, o); err == nil || !strings.Contains(err.Error(), "client.key") {
		t.Errorf("lone client.key: %v", err)
	}
}
