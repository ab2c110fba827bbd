package commands

import (
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/pflag"

	"github.com/hoistbuild/hoist/push"
)

// defaultRegistryConfig is read when it exists (mirrors, insecure registries; see push.Config).
const defaultRegistryConfig = "/etc/hoist/registries.json"

// registryFlags are the flags every registry command shares.
type registryFlags struct {
	tlsVerify bool
	certDir   string
	insecure  []string
	mirrors   []string
	config    string
	authfile  string
	jobs      int
	platform  string
	quiet     bool
}

// defaultRegistryFlags are the values of the registry flags when none is given.
func defaultRegistryFlags() registryFlags {
	return registryFlags{tlsVerify: true, certDir: push.DefaultCertsDir, jobs: push.DefaultJobs}
}

func (rf *registryFlags) add(fs *pflag.FlagSet, platform bool) {
	d := defaultRegistryFlags()
	fs.BoolVar(&rf.tlsVerify, "tls-verify", d.tlsVerify, "verify TLS certificates (false also allows plain HTTP)")
	fs.StringVar(&rf.certDir, "cert-dir", d.certDir, "per-registry certificates: DIR/HOST:PORT/{ca.crt,client.cert,client.key}")
	fs.StringArrayVar(&rf.insecure, "insecure-registry", nil, "allow plain HTTP and unverified TLS for this registry (host[:port] or CIDR)")
	fs.StringArrayVar(&rf.mirrors, "registry-mirror", nil, "mirror of docker.io tried first, in order ([http[s]://]host[:port][/prefix])")
	fs.StringVar(&rf.config, "registry-config", "", "registry config file (JSON, dockerd's daemon.json keys; default "+defaultRegistryConfig+" or $HOIST_REGISTRY_CONFIG)")
	fs.StringVar(&rf.authfile, "authfile", "", "credentials file (default $REGISTRY_AUTH_FILE, then docker's config.json)")
	fs.IntVar(&rf.jobs, "jobs", d.jobs, "layers transferred in parallel")
	if platform {
		fs.StringVar(&rf.platform, "platform", "", "platform to pull from an index: os/arch[/variant] (default: this host's)")
	}
}

// authFiles is the credential lookup order: --authfile or $REGISTRY_AUTH_FILE, then docker's
// config.json ($DOCKER_CONFIG or ~/.docker), then podman's auth.json. The first is where login writes.
func (rf *registryFlags) authFiles() []string {
	var out []string
	if rf.authfile != "" {
		out = append(out, rf.authfile)
	} else if f := os.Getenv("REGISTRY_AUTH_FILE"); f != "" {
		out = append(out, f)
	}
	home, _ := os.UserHomeDir()
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		out = append(out, filepath.Join(d, "config.json"))
	} else if home != "" {
		out = append(out, filepath.Join(home, ".docker", "config.json"))
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		out = append(out, filepath.Join(d, "containers", "auth.json"))
	}
	if home != "" {
		out = append(out, filepath.Join(home, ".config", "containers", "auth.json"))
	}
	return out
}

// options builds push.Options; progress goes to stderr unless quiet (bars on a terminal, lines
// otherwise). The returned func ends the progress output.
func (rf *registryFlags) options(g *globals) (push.Options, func(), error) {
	o := push.Options{
		Keychain:      push.Keychain(rf.authFiles()...),
		Jobs:          rf.jobs,
		CertsDir:      rf.certDir,
		SkipTLSVerify: !rf.tlsVerify,
	}
	path, optional := rf.config, false
	if path == "" {
		path, optional = os.Getenv("HOIST_REGISTRY_CONFIG"), false
		if path == "" {
			path, optional = defaultRegistryConfig, true
		}
	}
	cfg, err := push.LoadConfig(path, optional)
	if err != nil {
		return o, nil, err
	}
	o.Registries = cfg.Merge(push.Config{RegistryMirrors: rf.mirrors, Insecure: rf.insecure})
	if rf.platform != "" {
		p, err := v1.ParsePlatform(rf.platform)
		if err != nil {
			return o, nil, fmt.Errorf("--platform: %w", err)
		}
		o.Platform = p
	}
	done := func() {}
	if !rf.quiet {
		p := push.NewPrinter(g.stderr, isTerminal(g.stderr))
		o.Progress = p
		done = func() { p.Close() }
	}
	return o, done, nil
}
