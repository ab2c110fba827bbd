package testutil

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// Registry starts Debian's docker-registry (the CNCF distribution registry) on a free loopback port
// with storage in a temp dir, and returns its host:port. It is stopped when the test ends. Without the
// binary it is a missing prerequisite (prereq.Registry).
func Registry(t testing.TB) string {
	t.Helper()
	return RegistryWith(t, RegistryConfig{})
}

// RegistryConfig adds TLS and htpasswd basic auth to a test registry.
type RegistryConfig struct {
	// TLSCert and TLSKey are PEM files; both set: the registry serves HTTPS only.
	TLSCert, TLSKey string
	// Htpasswd is an htpasswd file (bcrypt entries); set: basic auth is required.
	Htpasswd string
}

// RegistryWith is Registry with TLS and/or basic auth (see RegistryConfig).
func RegistryWith(t testing.TB, rc RegistryConfig) string {
	t.Helper()
	prereq.Require(t, prereq.Registry)
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	if rc.TLSCert != "" {
		conf += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", rc.TLSCert, rc.TLSKey)
	}
	if rc.Htpasswd != "" {
		conf += fmt.Sprintf("auth:\n  htpasswd:\n    realm: hoist-test\n    path: %s\n", rc.Htpasswd)
	}
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(15 * time.Second)
	scheme := "http"
	client := &http.Client{Timeout: 2 * time.Second}
	if rc.TLSCert != "" {
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	for time.Now().Before(deadline) {
		resp, err := client.Get(scheme + "://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return addr
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
	t.Fatalf("docker-registry did not start on %s:\n%s", addr, log)
	return ""
}
