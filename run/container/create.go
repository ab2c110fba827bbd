package container

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/cgroups"
	"github.com/hoistbuild/hoist/store"
)

// CreateOptions are docker's `create`/`run` flags, already split into values.
type CreateOptions struct {
	Image      string
	Name       string
	Args       []string // after the image: replaces the image's Cmd
	Entrypoint *string  // --entrypoint; "" clears the image's
	Env        []string // KEY=VALUE, override the image's
	WorkingDir string
	User       string
	Hostname   string
	Tty        bool
	OpenStdin  bool
	ReadOnly   bool
	Volumes    []string // -v specs
	Network    string   // bridge (default), host, none
	Publish    []string // -p specs
	PublishAll bool     // -P
	Expose     []string
	Resources  cgroups.Resources
	Restart    string
	StopSignal string
	// StopTimeout in seconds; nil means the default (10).
	StopTimeout *int
	AutoRemove  bool
	Labels      map[string]string
	Security    SecurityOptions
	Init        bool         // --init
	ShmSize     int64        // --shm-size in bytes; 0: 64 MiB
	Ulimits     []run.Rlimit // --ulimit
	Mounts      []string     // --mount, docker's CSV syntax
	Pull        string       // --pull: PullMissing (the CLI's default, docker's), PullAlways, PullNever; "": never, without docker's message
	Puller      Puller       // pulls for Pull
	Platform    string       // --platform: "" or the host's
	CIDFile     string       // --cidfile: written with the ID once created; must not exist
	LogDriver   string       // --log-driver: json-file (default) or none
	LogOpts     []string     // --log-opt KEY=VALUE
	VolumesFrom []string     // --volumes-from CONTAINER[:ro|rw]
	AddHosts    []string     // --add-host host:ip
	DNS         run.DNS      // --dns, --dns-search, --dns-option
	Health      HealthOptions
	// ConsoleSize is the client's terminal size [rows, columns] for a -t container (zero: 24x80).
	ConsoleSize [2]uint
	// Notes receives messages about options that have no effect on this
	// host (docker's warnings); nil discards them.
	Notes func(string)
}

// ErrBadOption wraps every error about invalid create options.
var ErrBadOption = errors.New("invalid option")

// ErrNoCommand is returned when neither the options nor the image give a command.
var ErrNoCommand = errors.New("no command specified")

// ErrNoImage is returned when the image is not in the store.
var ErrNoImage = errors.New("no such image")

// Create makes a container (state "created") from the options. The image's remote-backed layers are
// fetched now: the monitor that starts a detached container cannot fetch them.
func (r *Runtime) Create(ctx context.Context, o CreateOptions) (*Container, error) {
	if err := checkCIDFile(o.CIDFile); err != nil {
		return nil, err
	}
	cfg, err := r.configFor(ctx, o)
	if err != nil {
		return nil, err
	}
	// A container whose limits cannot be applied (rootless) could never start: refuse to make it.
	if err := cgroups.CheckLimits(cfg.Resources); err != nil {
		return nil, err
	}
	h, err := v1.NewHash(cfg.Manifest)
	if err != nil {
		return nil, err
	}
	if err := r.store.FetchImage(ctx, h); err != nil {
		return nil, err
	}
	unlock, err := r.lockNames(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	name, err := r.newName(o.Name)
	if err != nil {
		return nil, err
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
		if h, err := os.Hostname(); err == nil && cfg.Network == "host" {
			cfg.Hostname = h // docker: the host's name with --network=host
		}
	}
	c := &Container{ID: id, Name: name, Created: time.Now().UTC(), Config: *cfg, State: State{Status: StatusCreated}}
	dir := r.Dir(id)
	if err := os.Mkdir(dir, 0o710); err != nil {
		return nil, fmt.Errorf("creating container dir: %w", err)
	}
	if err := r.prepareDirs(c); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := r.write(c); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := writeCIDFile(o.CIDFile, id); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// newName is the name a new container gets: the given one (checked, free) or a generated one.
// The caller holds lockNames.
func (r *Runtime) newName(given string) (string, error) {
	name := strings.TrimPrefix(given, "/")
	if name == "" {
		return r.generateName(), nil
	} else if !validName.MatchString(name) {
		return "", fmt.Errorf("%w: %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrBadName, name)
	} else if other, taken := r.nameTaken(name, ""); taken {
		return "", fmt.Errorf("%w: the container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name", ErrNameInUse, name, other)
	}
	return name, nil
}

// prepareDirs makes upper, work, rootfs and the init layer: the mount points
// every container needs, kept out of the container's own changes (docker's
// "-init" layer).
func (r *Runtime) prepareDirs(c *Container) error {
	dir := r.Dir(c.ID)
	for _, d := range []string{"upper", "work", "rootfs", "init"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			return fmt.Errorf("creating container dir: %w", err)
		}
	}
	init := filepath.Join(dir, "init")
	dirs := []string{"/proc", "/sys", "/dev", "/etc"}
	files := []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}
	for _, m := range c.Config.Mounts {
		if m.Type == "bind" {
			if fi, err := os.Stat(m.Source); err == nil && !fi.IsDir() {
				files = append(files, m.Destination)
				continue
			}
		}
		dirs = append(dirs, m.Destination)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(init, d), 0o755); err != nil {
			return fmt.Errorf("creating init layer: %w", err)
		}
	}
	for _, f := range files {
		p := filepath.Join(init, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("creating init layer: %w", err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return fmt.Errorf("creating init layer: %w", err)
		}
	}
	return nil
}

// image returns the stored image for ref and the platform want (nil: the image as stored, or this
// host's manifest of an index), checked to be runnable here.
func (r *Runtime) image(ctx context.Context, ref string, want *v1.Platform) (v1.Image, v1.Hash, error) {
	h, err := r.store.Resolve(ctx, ref)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("%w: unable to find image '%s' locally (hoist run pulls only with --pull missing|always, or hoist pull it first): %w", ErrNoImage, ref, err)
	}
	img, mh, err := r.store.ImageFor(h, want)
	if err != nil {
		if want != nil && errors.Is(err, store.ErrNotFound) {
			return nil, v1.Hash{}, fmt.Errorf("%w: %s: %w", errWrongPlatform, ref, err)
		}
		return nil, v1.Hash{}, fmt.Errorf("%w: %s: %w", ErrNoImage, ref, err)
	}
	if want != nil {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, v1.Hash{}, fmt.Errorf("reading image config: %w", err)
		}
		have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
		if !platform.Match(*want, have) {
			// docker's words for a local image of another platform.
			return nil, v1.Hash{}, fmt.Errorf("%w: image with reference %s was found but does not match the specified platform: wanted %s, actual: %s",
				errWrongPlatform, ref, platform.Format(*want), platform.Format(have))
		}
	}
	if err := r.runnable(img, ref); err != nil {
		return nil, v1.Hash{}, err
	}
	return img, mh, nil
}

// configFor merges the image's config with the options, docker's way.
func (r *Runtime) configFor(ctx context.Context, o CreateOptions) (*Config, error) {
	img, h, err := r.imageFor(ctx, o)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	ic := cf.Config
	cfg := &Config{
		Image: o.Image, ImageID: id.String(), Manifest: h.String(),
		Entrypoint: ic.Entrypoint, Cmd: ic.Cmd,
		Env:        mergeEnv(ic.Env, o.Env),
		WorkingDir: ic.WorkingDir, User: ic.User, Hostname: o.Hostname,
		Tty: o.Tty, OpenStdin: o.OpenStdin, ReadOnly: o.ReadOnly,
		Network: o.Network, Resources: o.Resources, StopSignal: ic.StopSignal, StopTimeout: -1,
		AutoRemove: o.AutoRemove, Labels: map[string]string{}, Init: o.Init,
		ShmSize: o.ShmSize, Ulimits: o.Ulimits,
	}
	if cfg.Log, err = parseLogConfig(o.LogDriver, o.LogOpts); err != nil {
		return nil, err
	}
	var notes []string
	if cfg.Security, cfg.Resources.Devices, notes, err = securityFor(o.Security); err != nil {
		return nil, err
	}
	for _, n := range notes {
		if o.Notes != nil {
			o.Notes(n)
		}
	}
	if cfg.Healthcheck, err = healthFor(ic.Healthcheck, ic.Shell, o.Health); err != nil {
		return nil, err
	}
	if o.Tty {
		cfg.ConsoleSize = o.ConsoleSize
	}
	mounts := func(cfg *Config, ic v1.Config, o CreateOptions) error { return r.applyMounts(ctx, cfg, ic, o) }
	for _, step := range []func(*Config, v1.Config, CreateOptions) error{applyCommand, applyStop, applyNetwork, applyHostsAndDNS, applyRestart, applyPorts, mounts} {
		if err := step(cfg, ic, o); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// applyCommand sets the labels, the command (--entrypoint, the arguments), the working directory
// and the user.
func applyCommand(cfg *Config, ic v1.Config, o CreateOptions) error {
	maps.Copy(cfg.Labels, ic.Labels)
	maps.Copy(cfg.Labels, o.Labels)
	if o.Entrypoint != nil {
		cfg.Entrypoint, cfg.Cmd = nil, nil
		if *o.Entrypoint != "" {
			cfg.Entrypoint = []string{*o.Entrypoint}
		}
	}
	if len(o.Args) > 0 {
		cfg.Cmd = o.Args
	}
	if len(cfg.Entrypoint)+len(cfg.Cmd) == 0 {
		return ErrNoCommand
	}
	if o.WorkingDir != "" {
		if !filepath.IsAbs(o.WorkingDir) {
			return fmt.Errorf("%w: the working directory '%s' is invalid, it needs to be an absolute path", ErrBadOption, o.WorkingDir)
		}
		cfg.WorkingDir = o.WorkingDir
	}
	if o.User != "" {
		cfg.User = o.User
	}
	return nil
}

// applyStop sets the stop signal and timeout.
func applyStop(cfg *Config, _ v1.Config, o CreateOptions) error {
	if o.StopSignal != "" {
		cfg.StopSignal = o.StopSignal
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = "SIGTERM"
	}
	if _, err := ParseSignal(cfg.StopSignal); err != nil {
		return fmt.Errorf("%w: %w", ErrBadOption, err)
	}
	if o.StopTimeout != nil {
		cfg.StopTimeout = *o.StopTimeout
	}
	return nil
}

// applyRestart sets the restart policy and checks it against --rm.
func applyRestart(cfg *Config, _ v1.Config, o CreateOptions) error {
	var err error
	if cfg.Restart, err = parseRestart(o.Restart); err != nil {
		return err
	}
	if cfg.AutoRemove && cfg.Restart.Name != "no" {
		return fmt.Errorf("%w: conflicting options: --restart and --rm", ErrBadOption)
	}
	return nil
}

// applyNetwork sets the network mode: bridge by default (none without root), host, none.
func applyNetwork(cfg *Config, _ v1.Config, _ CreateOptions) error {
	switch cfg.Network {
	case "":
		cfg.Network = "bridge"
		if os.Geteuid() != 0 {
			cfg.Network = "none" // bridge networking needs root
		}
	case "bridge", "host", "none", "default":
		if cfg.Network == "default" {
			cfg.Network = "bridge"
		}
	default:
		return fmt.Errorf("%w: network %s not found", ErrBadOption, cfg.Network)
	}
	return nil
}

// applyPorts sets the exposed ports (the image's and --expose) and the published ones (-p, -P).
// It runs after applyNetwork: published ports are discarded with host or none networking.
func applyPorts(cfg *Config, ic v1.Config, o CreateOptions) error {
	for p := range ic.ExposedPorts {
		cfg.Exposed = append(cfg.Exposed, p)
	}
	for _, e := range o.Expose {
		if !strings.Contains(e, "/") {
			e += "/tcp"
		}
		cfg.Exposed = append(cfg.Exposed, e)
	}
	for _, p := range o.Publish {
		ports, err := ParsePorts(p)
		if err != nil {
			return err
		}
		for _, pt := range ports {
			cfg.Ports = append(cfg.Ports, pt)
			cfg.Exposed = append(cfg.Exposed, strconv.Itoa(pt.ContainerPort)+"/"+pt.Proto)
		}
	}
	if o.PublishAll {
		publishAll(cfg)
	}
	cfg.Exposed = dedupe(cfg.Exposed)
	if len(cfg.Ports) > 0 && cfg.Network != "bridge" {
		cfg.Ports = nil // docker: published ports are discarded with host/none networking
	}
	return nil
}

// publishAll publishes every exposed port not published yet on a free host port (-P).
func publishAll(cfg *Config) {
	for _, e := range cfg.Exposed {
		ps, proto, _ := strings.Cut(e, "/")
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 {
			continue
		}
		if proto == "" {
			proto = "tcp"
		}
		if !hasPort(cfg.Ports, n, proto) {
			cfg.Ports = append(cfg.Ports, Port{ContainerPort: n, Proto: proto})
		}
	}
}

func hasPort(ps []Port, n int, proto string) bool {
	for _, p := range ps {
		if p.ContainerPort == n && p.Proto == proto {
			return true
		}
	}
	return false
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// mergeEnv overrides the image's KEY=VALUE entries with the given ones.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i], replaced = kv, true
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

// parseRestart parses docker's --restart value.
func parseRestart(s string) (RestartPolicy, error) {
	name, max, hasMax := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch name {
	case "", "no":
		p.Name = "no"
	case "always", "unless-stopped":
	case "on-failure":
		if hasMax {
			n, err := strconv.Atoi(max)
			if err != nil || n < 0 {
				return p, fmt.Errorf("%w: invalid restart policy %q: maximum retry count must be a non-negative integer", ErrBadOption, s)
			}
			p.MaxRetry = n
			return p, nil
		}
	default:
		return p, fmt.Errorf("%w: invalid restart policy %q", ErrBadOption, s)
	}
	if hasMax {
		return p, fmt.Errorf("%w: invalid restart policy %q: maximum retry count can only be used with 'on-failure'", ErrBadOption, s)
	}
	return p, nil
}

func (r *Runtime) volumePath(name string) string {
	return filepath.Join(r.hroot, "volumes", name, "_data")
}
