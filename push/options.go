package push

import (
	"context"
	"net/http"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// DefaultJobs is the number of layers transferred in parallel when Options.Jobs is 0. Registries
// and docker use 3-5; more rarely helps on one link and hurts on a flaky one.
const DefaultJobs = 4

// DefaultCertsDir is docker's per-registry certificate directory.
const DefaultCertsDir = "/etc/docker/certs.d"

// Options configure registry access. The zero value works: default keychain, host platform,
// DefaultJobs, verified TLS with the system roots, plain HTTP only for loopback registries, no mirrors.
type Options struct {
	// Keychain resolves credentials; nil means authn.DefaultKeychain. See Keychain for docker's
	// and podman's files.
	Keychain authn.Keychain
	// Platform selects an image from an index; nil means the host's (linux/GOARCH).
	Platform *v1.Platform
	// NoName makes Pull record the image untagged (dangling) instead of under the tag it was pulled
	// by (a build's base image for another platform: the tag keeps naming this host's image).
	NoName bool
	// Jobs is the number of layers transferred in parallel (0 = DefaultJobs).
	Jobs int
	// Registries holds mirrors and insecure registries (see Config).
	Registries Config
	// CertsDir is docker's certs.d: CertsDir/HOST[:PORT]/{*.crt,*.cert,*.key}. Empty: none.
	CertsDir string
	// SkipTLSVerify disables certificate verification and allows plain HTTP for every registry
	// (podman's --tls-verify=false).
	SkipTLSVerify bool
	// Progress receives per-layer progress; nil means none.
	Progress Progress
	// Backoff is the retry schedule for requests and blob transfers; zero means DefaultBackoff.
	Backoff remote.Backoff
	// Transport is the base HTTP transport (tests); nil builds one from the TLS settings above.
	Transport http.RoundTripper
}

// DefaultBackoff retries 5 times over about 6 s: enough for a registry's restart or a rate limit,
// short enough that a dead registry fails quickly.
var DefaultBackoff = remote.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 6}

func (o Options) jobs() int {
	if o.Jobs > 0 {
		return o.Jobs
	}
	return DefaultJobs
}

func (o Options) platform() v1.Platform {
	if o.Platform != nil {
		return *o.Platform
	}
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

func (o Options) backoff() remote.Backoff {
	if o.Backoff.Steps == 0 {
		return DefaultBackoff
	}
	return o.Backoff
}

func (o Options) keychain() authn.Keychain {
	if o.Keychain == nil {
		return authn.DefaultKeychain
	}
	return o.Keychain
}

// remoteOptions is ggcr's option list for one operation. updates, when non-nil, receives ggcr's
// aggregate progress.
func (o Options) remoteOptions(ctx context.Context, updates chan<- v1.Update) ([]remote.Option, error) {
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(o.keychain()),
		remote.WithPlatform(o.platform()),
		remote.WithJobs(o.jobs()),
		remote.WithTransport(o.transport()),
		remote.WithUserAgent("hoist"),
	}
	opts = append(opts, retryOptions(o.backoff())...)
	if updates != nil {
		opts = append(opts, remote.WithProgress(updates))
	}
	return opts, nil
}

// reference returns ref marked insecure (HTTP fallback allowed by ggcr) when its registry is
// insecure by o's policy. The transport still refuses plain HTTP anywhere else.
func (o Options) reference(ref name.Reference) name.Reference {
	if !o.plainHTTPAllowed(ref.Context().RegistryStr()) {
		return ref
	}
	r, err := name.ParseReference(ref.String(), name.Insecure)
	if err != nil {
		return ref
	}
	return r
}

func (o Options) repository(repo name.Repository) name.Repository {
	if !o.plainHTTPAllowed(repo.RegistryStr()) {
		return repo
	}
	r, err := name.NewRepository(repo.Name(), name.Insecure)
	if err != nil {
		return repo
	}
	return r
}
