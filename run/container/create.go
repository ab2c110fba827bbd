package container

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/cgroups"
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
	cfg, err := r.configFor(ctx, o)
	if err != nil {
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
	name := strings.TrimPrefix(o.Name, "/")
	if name == "" {
		name = r.generateName()
	} else if !validName.MatchString(name) {
		return nil, fmt.Errorf("%w: %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", ErrBadName, name)
	} else if other, taken := r.nameTaken(name, ""); taken {
		return nil, fmt.Errorf("%w: the container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name", ErrNameInUse, name, other)
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
	return c, nil
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

// image returns the stored image for ref.
func (r *Runtime) image(ctx context.Context, ref string) (v1.Image, v1.Hash, error) {
	h, err := r.store.Resolve(ctx, ref)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("%w: unable to find image '%s' locally (hoist run does not pull: hoist pull it first): %w", ErrNoImage, ref, err)
	}
	img, err := r.store.Image(h)
	if err != nil {
		return nil, v1.Hash{}, fmt.Errorf("%w: %s: %w", ErrNoImage, ref, err)
	}
	return img, h, nil
}

// configFor merges the image's config with the options, docker's way.
func (r *Runtime) configFor(ctx context.Context, o CreateOptions) (*Config, error) {
	img, h, err := r.image(ctx, o.Image)
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
	var notes []string
	if cfg.Security, cfg.Resources.Devices, cfg.Tmpfs, notes, err = securityFor(o.Security); err != nil {
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
	for k, v := range ic.Labels {
		cfg.Labels[k] = v
	}
	for k, v := range o.Labels {
		cfg.Labels[k] = v
	}
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
		return nil, ErrNoCommand
	}
	if o.WorkingDir != "" {
		if !filepath.IsAbs(o.WorkingDir) {
			return nil, fmt.Errorf("%w: the working directory '%s' is invalid, it needs to be an absolute path", ErrBadOption, o.WorkingDir)
		}
		cfg.WorkingDir = o.WorkingDir
	}
	if o.User != "" {
		cfg.User = o.User
	}
	if o.StopSignal != "" {
		cfg.StopSignal = o.StopSignal
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = "SIGTERM"
	}
	if _, err := ParseSignal(cfg.StopSignal); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadOption, err)
	}
	if o.StopTimeout != nil {
		cfg.StopTimeout = *o.StopTimeout
	}
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
		return nil, fmt.Errorf("%w: network %s not found", ErrBadOption, cfg.Network)
	}
	if cfg.Restart, err = parseRestart(o.Restart); err != nil {
		return nil, err
	}
	if cfg.AutoRemove && cfg.Restart.Name != "no" {
		return nil, fmt.Errorf("%w: conflicting options: --restart and --rm", ErrBadOption)
	}
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
			return nil, err
		}
		for _, pt := range ports {
			cfg.Ports = append(cfg.Ports, pt)
			cfg.Exposed = append(cfg.Exposed, strconv.Itoa(pt.ContainerPort)+"/"+pt.Proto)
		}
	}
	if o.PublishAll {
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
	cfg.Exposed = dedupe(cfg.Exposed)
	if len(cfg.Ports) > 0 && cfg.Network != "bridge" {
		cfg.Ports = nil // docker: published ports are discarded with host/none networking
	}
	for _, v := range o.Volumes {
		m, err := r.parseVolume(v)
		if err != nil {
			return nil, err
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	// Each image VOLUME that no -v covers gets an anonymous volume, as docker
	// gives it (filled from the image at the first start, removed by rm -v).
	vols := slices.Sorted(maps.Keys(ic.Volumes))
	for _, v := range vols {
		if !filepath.IsAbs(v) || filepath.Clean(v) == "/" || slices.ContainsFunc(cfg.Mounts, func(m Mount) bool {
			return filepath.Clean(m.Destination) == filepath.Clean(v)
		}) {
			continue
		}
		m, err := r.parseVolume(filepath.Clean(v))
		if err != nil {
			return nil, err
		}
		cfg.Mounts = append(cfg.Mounts, m)
	}
	return cfg, nil
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

// parseVolume parses one -v spec: name:/dst[:ro], /host:/dst[:ro|rw], /dst.
func (r *Runtime) parseVolume(spec string) (Mount, error) {
	parts := strings.Split(spec, ":")
	m := Mount{}
	switch len(parts) {
	case 1:
		m.Destination = parts[0]
	case 2, 3:
		m.Source, m.Destination = parts[0], parts[1]
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				m.ReadOnly = true
			case "rw", "":
			default:
				return m, fmt.Errorf("%w: invalid mode %q in volume %q", ErrBadOption, parts[2], spec)
			}
		}
	default:
		return m, fmt.Errorf("%w: invalid volume specification %q", ErrBadOption, spec)
	}
	if !filepath.IsAbs(m.Destination) || m.Destination == "/" {
		return m, fmt.Errorf("%w: invalid volume specification %q: the destination must be an absolute path other than /", ErrBadOption, spec)
	}
	switch {
	case m.Source == "":
		id, err := newID()
		if err != nil {
			return m, err
		}
		m.Type, m.Source = "volume", id // anonymous
	case filepath.IsAbs(m.Source):
		m.Type = "bind"
		// docker creates a missing source as a directory; an existing file is bound as a file.
		if _, err := os.Stat(m.Source); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(m.Source, 0o755); err != nil {
				return m, fmt.Errorf("%w: bind source %s: %w", ErrBadOption, m.Source, err)
			}
		} else if err != nil {
			return m, fmt.Errorf("%w: bind source %s: %w", ErrBadOption, m.Source, err)
		}
	default:
		if !validName.MatchString(m.Source) {
			return m, fmt.Errorf("%w: %q includes invalid characters for a local volume name", ErrBadOption, m.Source)
		}
		m.Type = "volume"
	}
	if m.Type == "volume" {
		if err := os.MkdirAll(r.volumePath(m.Source), 0o755); err != nil {
			return m, fmt.Errorf("creating volume %s: %w", m.Source, err)
		}
	}
	return m, nil
}

func (r *Runtime) volumePath(name string) string {
	return filepath.Join(r.hroot, "volumes", name, "_data")
}
