package push

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"strings"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrUnauthorized means the registry refused the credentials (or demanded some and none were given).
var ErrUnauthorized = errors.New("unauthorized")

// fileKeychain resolves credentials from docker-format config files (docker's config.json, podman's
// auth.json), tried in order: the first file with an entry for the repository or registry wins.
// Entries may use credsStore and credHelpers (docker-credential-* programs).
type fileKeychain struct {
	paths []string
}

var _ authn.Keychain = (*fileKeychain)(nil)

// Keychain returns a keychain reading the given docker-format credential files in order (missing
// files are skipped). The command line decides the order from the environment: REGISTRY_AUTH_FILE,
// then $DOCKER_CONFIG/config.json or ~/.docker/config.json, then podman's auth.json.
func Keychain(paths ...string) authn.Keychain {
	return &fileKeychain{paths: paths}
}

// authKey is the config key docker uses for registry host reg.
func authKey(reg string) string {
	if canonicalRegistry(reg) == name.DefaultRegistry {
		return authn.DefaultAuthKey
	}
	return reg
}

func loadConfigFile(path string) (*configfile.ConfigFile, error) {
	cf := configfile.New(path)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return cf, nil
	} else if err != nil {
		return nil, fmt.Errorf("reading credentials: %w", err)
	}
	defer f.Close()
	if err := cf.LoadFromReader(f); err != nil {
		return nil, fmt.Errorf("reading credentials %s: %w", path, err)
	}
	return cf, nil
}

// Resolve implements authn.Keychain. Per file: an entry for the repository or one of its parents
// (podman's scoped entries, longest first), then one for the registry (docker's keys, docker.io's
// spellings), then the file's credential helper for the registry.
func (k *fileKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	reg := canonicalRegistry(target.RegistryStr())
	var cands []string
	if repo, ok := target.(name.Repository); ok {
		p := repo.RepositoryStr()
		for p != "" && p != "." {
			for _, h := range hostSpellings(reg) {
				cands = append(cands, h+"/"+p)
			}
			p = path.Dir(p)
		}
	}
	cands = append(cands, hostSpellings(reg)...)
	for _, p := range k.paths {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		cf, err := loadConfigFile(p)
		if err != nil {
			return nil, err
		}
		for _, c := range cands {
			for key := range cf.AuthConfigs {
				if normalizeAuthKey(key) != c {
					continue
				}
				if a, err := authFrom(cf, key); err != nil || a != nil {
					return a, err
				}
			}
		}
		if cf.CredentialsStore != "" || cf.CredentialHelpers[reg] != "" || cf.CredentialHelpers[authKey(reg)] != "" {
			if a, err := authFrom(cf, authKey(reg)); err != nil || a != nil {
				return a, err
			}
		}
	}
	return authn.Anonymous, nil
}

func hostSpellings(reg string) []string {
	if reg == name.DefaultRegistry {
		return []string{"index.docker.io", "docker.io", "registry-1.docker.io"}
	}
	return []string{reg}
}

// normalizeAuthKey strips a config key's scheme and docker's "/v1/" suffix.
func normalizeAuthKey(k string) string {
	k = strings.TrimPrefix(strings.TrimPrefix(k, "https://"), "http://")
	k = strings.TrimSuffix(strings.TrimSuffix(k, "/"), "/v1")
	return strings.TrimSuffix(k, "/")
}

// authFrom reads key's credentials from cf (through its credential helper when configured); nil
// when empty.
func authFrom(cf *configfile.ConfigFile, key string) (authn.Authenticator, error) {
	cfg, err := cf.GetAuthConfig(key)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", key, err)
	}
	cfg.ServerAddress = ""
	if cfg == (types.AuthConfig{}) {
		return nil, nil
	}
	return authn.FromConfig(authn.AuthConfig{
		Username: cfg.Username, Password: cfg.Password, Auth: cfg.Auth,
		IdentityToken: cfg.IdentityToken, RegistryToken: cfg.RegistryToken,
	}), nil
}

// Login checks user and password against registry reg (host[:port]; docker.io for Docker Hub) the
// way docker login does (a token request for bearer registries, an authenticated GET /v2/ for
// basic ones) and, when they work, stores them in the docker-format file path (through its
// credsStore or credHelpers entry when it has one). A refused login wraps ErrUnauthorized and
// changes nothing.
func Login(ctx context.Context, reg, user, password, path string, o Options) error {
	r, err := name.NewRegistry(canonicalRegistry(reg))
	if err != nil {
		return fmt.Errorf("invalid registry %q: %w", reg, err)
	}
	if o.plainHTTPAllowed(r.RegistryStr()) {
		r, _ = name.NewRegistry(r.RegistryStr(), name.Insecure)
	}
	if err := checkLogin(ctx, r, &authn.Basic{Username: user, Password: password}, o); err != nil {
		return err
	}
	cf, err := loadConfigFile(path)
	if err != nil {
		return err
	}
	key := authKey(r.RegistryStr())
	if err := cf.GetCredentialsStore(key).Store(types.AuthConfig{Username: user, Password: password, ServerAddress: key}); err != nil {
		return fmt.Errorf("storing credentials: %w", err)
	}
	if err := cf.Save(); err != nil {
		return fmt.Errorf("storing credentials: %w", err)
	}
	return nil
}

func checkLogin(ctx context.Context, r name.Registry, auth authn.Authenticator, o Options) error {
	base := o.transport()
	ch, err := transport.Ping(ctx, r, base)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", r.RegistryStr(), describe(err))
	}
	rt, err := transport.NewWithContext(ctx, r, auth, base, nil)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", r.RegistryStr(), loginError(err))
	}
	scheme := "https"
	if ch.Insecure {
		scheme = "http"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+r.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("logging in to %s: %w", r.RegistryStr(), loginError(err))
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return nil
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("logging in to %s: wrong username or password: %w", r.RegistryStr(), ErrUnauthorized)
	default:
		return fmt.Errorf("logging in to %s: registry answered %s", r.RegistryStr(), resp.Status)
	}
}

func loginError(err error) error {
	var te *transport.Error
	if errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden) {
		return fmt.Errorf("wrong username or password: %w", ErrUnauthorized)
	}
	return describe(err)
}

// Logout removes reg's credentials from the docker-format file path (and its credential helper).
// It reports whether there were any.
func Logout(reg, path string) (bool, error) {
	cf, err := loadConfigFile(path)
	if err != nil {
		return false, err
	}
	key := authKey(canonicalRegistry(reg))
	found := false
	for _, k := range []string{key, reg} {
		if _, ok := cf.AuthConfigs[k]; ok {
			found = true
		}
		if err := cf.GetCredentialsStore(k).Erase(k); err != nil && found {
			return found, fmt.Errorf("removing credentials: %w", err)
		}
	}
	if !found {
		return false, nil
	}
	if err := cf.Save(); err != nil {
		return true, fmt.Errorf("removing credentials: %w", err)
	}
	return true, nil
}
