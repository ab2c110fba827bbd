package container

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/sys/mountinfo"

	"github.com/hoistbuild/hoist/run"
)

// mountRequest is one mount as a flag asked for it. Every mount flag (-v, --mount, --tmpfs) is
// parsed into one, and resolveMount checks and makes every one the same way.
type mountRequest struct {
	Type         string // "bind", "volume" or "tmpfs"
	Source       string // bind: host path; volume: name ("" anonymous); tmpfs: ""
	Target       string
	ReadOnly     bool
	Propagation  string   // bind: "", private, rprivate, slave, rslave, shared, rshared
	NonRecursive bool     // bind: bind-nonrecursive
	NoCopy       bool     // volume: volume-nocopy
	TmpfsOptions []string // tmpfs: mount(8) options after docker's defaults
	CreateSource bool     // -v creates a missing bind source; --mount refuses one
}

// propagations are docker's bind-propagation values.
var propagations = []string{"private", "rprivate", "slave", "rslave", "shared", "rshared"}

// tmpfsDefaults are docker's options of every tmpfs mount; the user's come after and win.
var tmpfsDefaults = []string{"nosuid", "nodev", "noexec"}

// parseMountFlag parses one --mount value, docker's CSV syntax (docker/cli opts.MountOpt and the
// daemon's checks, with docker 20.10's messages): type=bind|volume|tmpfs (volume by default),
// source/src, target/dst/destination, readonly/ro[=BOOL], bind-propagation, bind-nonrecursive,
// volume-nocopy, volume-driver=local, tmpfs-size, tmpfs-mode, consistency (no effect on Linux,
// as with docker). Any other key is an error naming it.
func parseMountFlag(value string) (mountRequest, error) {
	bad := func(format string, a ...any) (mountRequest, error) {
		return mountRequest{}, fmt.Errorf("%w: invalid argument %q for \"--mount\" flag: %s", ErrBadOption, value, fmt.Sprintf(format, a...))
	}
	if strings.TrimSpace(value) == "" {
		return bad("value is empty")
	}
	fields, err := csv.NewReader(strings.NewReader(value)).Read()
	if err != nil {
		return bad("%v", err)
	}
	req := mountRequest{Type: "volume"}
	var kinds []string // bind, volume, tmpfs: the option families used
	var size, mode string
	for _, field := range fields {
		key, val, hasValue := strings.Cut(field, "=")
		key = strings.ToLower(key)
		if !hasValue && !slices.Contains([]string{"readonly", "ro", "volume-nocopy", "bind-nonrecursive"}, key) {
			return bad("invalid field '%s' must be a key=value pair", field)
		}
		if family, _, ok := strings.Cut(key, "-"); ok && slices.Contains([]string{"bind", "volume", "tmpfs"}, family) {
			kinds = append(kinds, family)
		}
		switch key {
		case "type":
			req.Type = strings.ToLower(val)
		case "source", "src":
			req.Source = val
			if strings.HasPrefix(val, ".") {
				if abs, err := filepath.Abs(val); err == nil {
					req.Source = abs
				}
			}
		case "target", "dst", "destination":
			req.Target = val
		case "readonly", "ro", "volume-nocopy", "bind-nonrecursive":
			b := true
			if hasValue {
				if b, err = strconv.ParseBool(val); err != nil {
					return bad("invalid value for %s: %s", key, val)
				}
			}
			switch key {
			case "volume-nocopy":
				req.NoCopy = b
			case "bind-nonrecursive":
				req.NonRecursive = b
			default:
				req.ReadOnly = b
			}
		case "bind-propagation":
			req.Propagation = strings.ToLower(val)
		case "volume-driver":
			if val != "local" {
				return bad("volume driver %q is not supported: hoist has only the local driver", val)
			}
		case "tmpfs-size":
			size = val
		case "tmpfs-mode":
			mode = val
		case "consistency":
		default:
			return bad("unexpected key '%s' in '%s'", key, field)
		}
	}
	for _, k := range kinds {
		if k != req.Type {
			return bad("cannot mix '%s-*' options with mount type '%s'", k, req.Type)
		}
	}
	if req.Target == "" {
		return bad("target is required")
	}
	if size != "" {
		n, err := units.RAMInBytes(size)
		if err != nil || n < 0 {
			return bad("invalid value for tmpfs-size: %s", size)
		}
		req.TmpfsOptions = append(req.TmpfsOptions, "size="+strconv.FormatInt(n, 10))
	}
	if mode != "" {
		m, err := strconv.ParseUint(mode, 8, 32)
		if err != nil {
			return bad("invalid value for tmpfs-mode: %s", mode)
		}
		req.TmpfsOptions = append(req.TmpfsOptions, "mode="+strconv.FormatUint(m, 8))
	}
	return req, nil
}

// parseVolumeFlag parses one -v spec: [SOURCE:]TARGET[:MODES], SOURCE a host path (created as a
// directory when missing, as docker does) or a volume name, MODES a comma list of ro, rw, nocopy
// and a bind propagation.
func parseVolumeFlag(spec string) (mountRequest, error) {
	parts := strings.Split(spec, ":")
	req := mountRequest{Type: "volume", CreateSource: true}
	switch len(parts) {
	case 1:
		req.Target = parts[0]
	case 2, 3:
		req.Source, req.Target = parts[0], parts[1]
		if len(parts) == 3 {
			for _, m := range strings.Split(parts[2], ",") {
				switch {
				case m == "ro":
					req.ReadOnly = true
				case m == "rw", m == "":
				case m == "nocopy":
					req.NoCopy = true
				case slices.Contains(propagations, m):
					req.Propagation = m
				default:
					return req, fmt.Errorf("%w: invalid mode %q in volume %q", ErrBadOption, m, spec)
				}
			}
		}
	default:
		return req, fmt.Errorf("%w: invalid volume specification %q", ErrBadOption, spec)
	}
	if !filepath.IsAbs(req.Target) || req.Target == "/" {
		return req, fmt.Errorf("%w: invalid volume specification %q: the destination must be an absolute path other than /", ErrBadOption, spec)
	}
	if filepath.IsAbs(req.Source) {
		req.Type = "bind"
	} else if req.Propagation != "" {
		return req, fmt.Errorf("%w: invalid volume specification %q: a propagation mode needs a host path", ErrBadOption, spec)
	}
	return req, nil
}

// parseTmpfsFlag parses one --tmpfs spec: TARGET[:OPTIONS], OPTIONS mount(8)'s, comma separated.
func parseTmpfsFlag(spec string) (mountRequest, error) {
	dst, opts, _ := strings.Cut(spec, ":")
	if !path.IsAbs(dst) {
		return mountRequest{}, fmt.Errorf("%w: invalid --tmpfs %q: the mount path must be absolute", ErrBadOption, spec)
	}
	req := mountRequest{Type: "tmpfs", Target: dst}
	if opts != "" {
		req.TmpfsOptions = strings.Split(opts, ",")
	}
	if err := run.CheckMountOptions("tmpfs", append(slices.Clone(tmpfsDefaults), req.TmpfsOptions...)); err != nil {
		return req, fmt.Errorf("%w: invalid --tmpfs %q: %w", ErrBadOption, spec, err)
	}
	return req, nil
}

// resolveMount checks req and makes what it needs: a missing -v bind source (as a directory), a
// volume's directory. It returns a Mount (bind, volume) or a Tmpfs. The messages are the docker
// daemon's ("invalid mount config for type ...").
func (r *Runtime) resolveMount(req mountRequest) (*Mount, *Tmpfs, error) {
	bad := func(format string, a ...any) (*Mount, *Tmpfs, error) {
		return nil, nil, fmt.Errorf("%w: invalid mount config for type %q: %s", ErrBadOption, req.Type, fmt.Sprintf(format, a...))
	}
	if !filepath.IsAbs(req.Target) {
		return bad("invalid mount path: '%s' mount path must be absolute", req.Target)
	}
	switch req.Type {
	case "tmpfs":
		if req.Source != "" {
			return bad("field Source must not be specified")
		}
		t := &Tmpfs{Destination: path.Clean(req.Target), Options: append(slices.Clone(tmpfsDefaults), req.TmpfsOptions...)}
		if req.ReadOnly {
			t.Options = append(t.Options, "ro")
		}
		return nil, t, nil
	case "bind":
		return r.resolveBind(req)
	case "volume":
		m := &Mount{Type: "volume", Source: req.Source, Destination: req.Target, ReadOnly: req.ReadOnly, NoCopy: req.NoCopy}
		if m.Source == "" {
			id, err := newID()
			if err != nil {
				return nil, nil, err
			}
			m.Source = id // anonymous
		} else if !validName.MatchString(m.Source) {
			return nil, nil, fmt.Errorf("%w: create %s: %q includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path", ErrBadOption, m.Source, m.Source)
		}
		if err := os.MkdirAll(r.volumePath(m.Source), 0o755); err != nil {
			return nil, nil, fmt.Errorf("creating volume %s: %w", m.Source, err)
		}
		return m, nil, nil
	}
	return bad("mount type unknown")
}

// resolveBind checks a bind mount's source and propagation.
func (r *Runtime) resolveBind(req mountRequest) (*Mount, *Tmpfs, error) {
	bad := func(format string, a ...any) (*Mount, *Tmpfs, error) {
		return nil, nil, fmt.Errorf("%w: invalid mount config for type \"bind\": %s", ErrBadOption, fmt.Sprintf(format, a...))
	}
	switch {
	case req.Source == "":
		return bad("field Source must not be empty")
	case !filepath.IsAbs(req.Source):
		return bad("invalid mount path: '%s' mount path must be absolute", req.Source)
	case req.Propagation != "" && !slices.Contains(propagations, req.Propagation):
		return bad("invalid propagation mode: %s", req.Propagation)
	case req.Propagation == "shared" || req.Propagation == "rshared":
		return nil, nil, fmt.Errorf("%w: bind-propagation=%s is not supported: hoist never shares a container's mounts with the host (private, rprivate, slave, rslave are)", ErrBadOption, req.Propagation)
	}
	if _, err := os.Stat(req.Source); errors.Is(err, os.ErrNotExist) {
		if !req.CreateSource {
			return bad("bind source path does not exist: %s", req.Source)
		}
		// -v: docker creates a missing source as a directory.
		if err := os.MkdirAll(req.Source, 0o755); err != nil {
			return nil, nil, fmt.Errorf("%w: bind source %s: %w", ErrBadOption, req.Source, err)
		}
	} else if err != nil {
		return nil, nil, fmt.Errorf("%w: bind source %s: %w", ErrBadOption, req.Source, err)
	}
	if req.Propagation == "slave" || req.Propagation == "rslave" {
		if err := sharedOrSlave(req.Source); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadOption, err)
		}
	}
	return &Mount{Type: "bind", Source: req.Source, Destination: req.Target, ReadOnly: req.ReadOnly,
		Propagation: req.Propagation, NonRecursive: req.NonRecursive}, nil, nil
}

// sharedOrSlave checks that the mount p is on is shared or a slave, as docker does for a slave
// bind mount: from a private one nothing could ever propagate.
func sharedOrSlave(p string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	mounts, err := mountinfo.GetMounts(nil)
	if err != nil {
		return err
	}
	var best *mountinfo.Info
	for _, m := range mounts {
		if (real == m.Mountpoint || strings.HasPrefix(real, strings.TrimSuffix(m.Mountpoint, "/")+"/")) &&
			(best == nil || len(m.Mountpoint) >= len(best.Mountpoint)) {
			best = m
		}
	}
	if best == nil {
		return fmt.Errorf("no mount found for %s", p)
	}
	for _, opt := range strings.Fields(best.Optional) {
		if strings.HasPrefix(opt, "shared:") || strings.HasPrefix(opt, "master:") {
			return nil
		}
	}
	return fmt.Errorf("path %s is mounted on %s but it is not a shared or slave mount", p, best.Mountpoint)
}

// applyMounts parses and makes every mount of the options: -v, --mount and --tmpfs (one target
// at most once, docker's "Duplicate mount point"), then --volumes-from's for targets not taken,
// then an anonymous volume for each image VOLUME no mount covers, as docker gives it (filled from
// the image at the first start, removed by rm -v).
func (r *Runtime) applyMounts(ctx context.Context, cfg *Config, ic v1.Config, o CreateOptions) error {
	var reqs []mountRequest
	for _, group := range []struct {
		specs []string
		parse func(string) (mountRequest, error)
	}{{o.Volumes, parseVolumeFlag}, {o.Mounts, parseMountFlag}, {o.Security.Tmpfs, parseTmpfsFlag}} {
		for _, s := range group.specs {
			req, err := group.parse(s)
			if err != nil {
				return err
			}
			reqs = append(reqs, req)
		}
	}
	taken := map[string]bool{}
	for _, req := range reqs {
		dst := filepath.Clean(req.Target)
		if taken[dst] {
			return fmt.Errorf("%w: Duplicate mount point: %s", ErrBadOption, req.Target)
		}
		taken[dst] = true
	}
	for _, req := range reqs {
		m, t, err := r.resolveMount(req)
		if err != nil {
			return err
		}
		if t != nil {
			cfg.Tmpfs = append(cfg.Tmpfs, *t)
		} else {
			cfg.Mounts = append(cfg.Mounts, *m)
		}
	}
	from, err := r.volumesFrom(ctx, o.VolumesFrom)
	if err != nil {
		return err
	}
	for _, m := range from {
		if dst := filepath.Clean(m.Destination); !taken[dst] {
			taken[dst] = true
			cfg.Mounts = append(cfg.Mounts, m)
		}
	}
	for _, v := range slices.Sorted(maps.Keys(ic.Volumes)) {
		if !filepath.IsAbs(v) || filepath.Clean(v) == "/" || taken[filepath.Clean(v)] {
			continue
		}
		m, _, err := r.resolveMount(mountRequest{Type: "volume", Target: filepath.Clean(v)})
		if err != nil {
			return err
		}
		cfg.Mounts = append(cfg.Mounts, *m)
	}
	return nil
}

// volumesFrom are the bind mounts and volumes of the containers specs name (CONTAINER[:ro|rw],
// docker's --volumes-from): the same sources at the same targets, read-only with :ro, writable
// with :rw, else as the container has them. tmpfs mounts are not shared, as with docker.
func (r *Runtime) volumesFrom(ctx context.Context, specs []string) ([]Mount, error) {
	var out []Mount
	for _, spec := range specs {
		ref, mode, hasMode := strings.Cut(spec, ":")
		if hasMode && mode != "ro" && mode != "rw" {
			return nil, fmt.Errorf("%w: invalid mode: %s", ErrBadOption, mode)
		}
		c, err := r.Get(ctx, ref)
		if err != nil {
			return nil, err
		}
		for _, m := range c.Config.Mounts {
			if hasMode {
				m.ReadOnly = mode == "ro"
			}
			out = append(out, m)
		}
	}
	return out, nil
}
