package push

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Config is the registry configuration shared by pulls and pushes: mirrors and insecure registries.
// Its file form is JSON and accepts dockerd's daemon.json keys, so /etc/docker/daemon.json works as is:
//
//	{
//	  "registry-mirrors": ["https://mirror.example.com", "http://127.0.0.1:5000"],  // for docker.io
//	  "insecure-registries": ["reg.lan:5000", "10.0.0.0/8"],
//	  "mirrors": {"quay.io": ["quay-mirror.lan/quay"]}                             // any registry
//	}
//
// Mirrors are tried in order for pulls, then the registry itself (containers' registries.conf and
// dockerd do the same). A mirror location may carry a repository prefix ("host/prefix"); an http://
// scheme allows plain HTTP to that mirror.
type Config struct {
	// Mirrors maps a registry host (docker.io for Docker Hub) to mirror locations, in order.
	Mirrors map[string][]string `json:"mirrors,omitempty"`
	// RegistryMirrors are mirrors of docker.io (dockerd's key).
	RegistryMirrors []string `json:"registry-mirrors,omitempty"`
	// Insecure lists registries (host[:port]) or CIDRs where plain HTTP and unverified TLS are
	// allowed, as dockerd's insecure-registries.
	Insecure []string `json:"insecure-registries,omitempty"`
}

// LoadConfig reads a Config file. A missing file is an empty Config when optional is true.
func LoadConfig(path string, optional bool) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, os.ErrNotExist) {
			return c, nil
		}
		return c, fmt.Errorf("reading registry config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("reading registry config %s: %w", path, err)
	}
	return c, c.validate()
}

// Merge returns c with other's entries added after c's.
func (c Config) Merge(other Config) Config {
	out := Config{
		RegistryMirrors: append(slices.Clone(c.RegistryMirrors), other.RegistryMirrors...),
		Insecure:        append(slices.Clone(c.Insecure), other.Insecure...),
		Mirrors:         map[string][]string{},
	}
	for _, m := range []map[string][]string{c.Mirrors, other.Mirrors} {
		for k, v := range m {
			out.Mirrors[k] = append(out.Mirrors[k], v...)
		}
	}
	return out
}

func (c Config) validate() error {
	for _, m := range c.allMirrors() {
		if _, err := parseMirror(m); err != nil {
			return err
		}
	}
	for _, s := range c.Insecure {
		if _, _, err := net.ParseCIDR(s); err == nil {
			continue
		}
		if _, err := name.NewRegistry(s); err != nil {
			return fmt.Errorf("insecure registry %q: %w", s, err)
		}
	}
	return nil
}

func (c Config) allMirrors() []string {
	out := slices.Clone(c.RegistryMirrors)
	for _, v := range c.Mirrors {
		out = append(out, v...)
	}
	return out
}

// mirror is one parsed mirror location.
type mirror struct {
	host   string // host[:port]
	prefix string // repository prefix, "" for none
	http   bool   // http:// given: plain HTTP allowed
}

func parseMirror(s string) (mirror, error) {
	var m mirror
	loc := s
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return m, fmt.Errorf("registry mirror %q: want [http[s]://]host[:port][/prefix]", s)
		}
		m.http = u.Scheme == "http"
		loc = u.Host + u.Path
	}
	loc = strings.Trim(loc, "/")
	host, prefix, _ := strings.Cut(loc, "/")
	if _, err := name.NewRegistry(host); err != nil || host == "" {
		return m, fmt.Errorf("registry mirror %q: invalid host", s)
	}
	m.host, m.prefix = host, prefix
	return m, nil
}

// canonicalRegistry maps docker.io's spellings to ggcr's name for it.
func canonicalRegistry(h string) string {
	switch h {
	case "docker.io", "index.docker.io", "registry-1.docker.io":
		return name.DefaultRegistry
	}
	return h
}

// mirrorsFor returns the parsed mirrors configured for registry host reg, in order.
func (c Config) mirrorsFor(reg string) []mirror {
	reg = canonicalRegistry(reg)
	var locs []string
	if reg == name.DefaultRegistry {
		locs = append(locs, c.RegistryMirrors...)
	}
	for k, v := range c.Mirrors {
		if canonicalRegistry(k) == reg {
			locs = append(locs, v...)
		}
	}
	var out []mirror
	for _, l := range locs {
		if m, err := parseMirror(l); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// mirrorReference rewrites ref to the mirror m (same repository path under m's prefix).
func mirrorReference(ref name.Reference, m mirror) (name.Reference, error) {
	repo := ref.Context().RepositoryStr()
	if m.prefix != "" {
		repo = m.prefix + "/" + repo
	}
	s := m.host + "/" + repo
	if d, ok := ref.(name.Digest); ok {
		s += "@" + d.DigestStr()
	} else {
		s += ":" + ref.Identifier()
	}
	var opts []name.Option
	if m.http {
		opts = append(opts, name.Insecure)
	}
	return name.ParseReference(s, opts...)
}

// isInsecure reports whether host (host[:port]) is listed in Insecure, by name or by CIDR.
func (c Config) isInsecure(host string) bool {
	host = canonicalRegistry(host)
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	ip := net.ParseIP(strings.Trim(hostname, "[]"))
	for _, s := range c.Insecure {
		if _, cidr, err := net.ParseCIDR(s); err == nil {
			if ip != nil && cidr.Contains(ip) {
				return true
			}
			continue
		}
		if canonicalRegistry(s) == host {
			return true
		}
	}
	return false
}

// isLoopback reports whether host (host[:port]) is localhost or a loopback address.
func isLoopback(host string) bool {
	hostname := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostname = h
	}
	if hostname == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(hostname, "[]"))
	return ip != nil && ip.IsLoopback()
}

// plainHTTPAllowed is the policy for http:// and for unverified TLS: loopback registries and the
// insecure ones.
func (o Options) plainHTTPAllowed(host string) bool {
	return isLoopback(host) || o.insecure(host)
}

// insecure reports whether o was told to use host without TLS verification: registries marked
// insecure, mirrors given with http://, or everything when SkipTLSVerify is set.
func (o Options) insecure(host string) bool {
	if o.SkipTLSVerify || o.Registries.isInsecure(host) {
		return true
	}
	for _, l := range o.Registries.allMirrors() {
		if m, err := parseMirror(l); err == nil && m.http && m.host == host {
			return true
		}
	}
	return false
}
