package push

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/hoistbuild/hoist/internal/rootless"
)

// transport returns the HTTP transport for one operation: per-registry TLS settings (docker's
// certs.d layout) and the plain-HTTP policy. ggcr wraps it with retries and auth.
func (o Options) transport() http.RoundTripper {
	return &policyTransport{o: o, hosts: map[string]http.RoundTripper{}}
}

// policyTransport refuses plain HTTP to registries that are neither loopback nor marked insecure, and
// gives every host its own *http.Transport with that host's TLS configuration. Safe for concurrent use.
type policyTransport struct {
	o     Options
	mu    sync.Mutex
	hosts map[string]http.RoundTripper
}

var _ http.RoundTripper = (*policyTransport)(nil)

// RoundTrip implements http.RoundTripper.
func (t *policyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Host
	if req.URL.Scheme == "http" && !t.o.plainHTTPAllowed(host) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("refusing plain HTTP to %s: use HTTPS or mark it insecure (--insecure-registry %s)", host, host)
	}
	rt, err := t.forHost(host)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return rt.RoundTrip(req)
}

func (t *policyTransport) forHost(host string) (http.RoundTripper, error) {
	if t.o.Transport != nil {
		return t.o.Transport, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if rt, ok := t.hosts[host]; ok {
		return rt, nil
	}
	cfg, err := t.o.tlsConfig(host)
	if err != nil {
		return nil, err
	}
	base := remote.DefaultTransport.(*http.Transport).Clone()
	base.TLSClientConfig = cfg
	// remote.DefaultTransport's dialer; rootless, a registry on the host's loopback is reached
	// through the port helper (the rootless namespace's loopback is its own).
	base.DialContext = rootless.HostDialer(&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
	t.hosts[host] = base
	return base, nil
}

// tlsConfig builds host's TLS configuration: the system roots plus CertsDir/host/*.crt, client
// certificates from CertsDir/host/*.cert with the matching *.key (docker's rules), and no
// verification for insecure registries or with SkipTLSVerify.
func (o Options) tlsConfig(host string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.SkipTLSVerify || o.Registries.isInsecure(host) {
		cfg.InsecureSkipVerify = true
	}
	if o.CertsDir == "" {
		return cfg, nil
	}
	dir := filepath.Join(o.CertsDir, host)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading certificates for %s: %w", host, err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case strings.HasSuffix(e.Name(), ".crt"):
			pem, err := os.ReadFile(p)
			if err != nil {
				return nil, fmt.Errorf("reading CA certificate: %w", err)
			}
			if cfg.RootCAs == nil {
				if cfg.RootCAs, err = x509.SystemCertPool(); err != nil || cfg.RootCAs == nil {
					cfg.RootCAs = x509.NewCertPool()
				}
			}
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("CA certificate %s: no PEM certificate in it", p)
			}
		case strings.HasSuffix(e.Name(), ".cert"):
			key := strings.TrimSuffix(p, ".cert") + ".key"
			pair, err := tls.LoadX509KeyPair(p, key)
			if err != nil {
				return nil, fmt.Errorf("client certificate %s (key %s): %w", p, key, err)
			}
			cfg.Certificates = append(cfg.Certificates, pair)
		case strings.HasSuffix(e.Name(), ".key"):
			if _, err := os.Stat(strings.TrimSuffix(p, ".key") + ".cert"); err != nil {
				return nil, fmt.Errorf("client key %s has no matching .cert", p)
			}
		}
	}
	return cfg, nil
}
