package builder

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/parser"
)

// dispatch runs one step, one function per instruction family (as BuildKit's dispatchX). It reports
// whether the step's result came from the cache.
func (sr *stageRun) dispatch(ctx context.Context, step parser.Step) (bool, error) {
	switch s := step.(type) {
	case *parser.RunStep:
		return sr.dispatchRun(ctx, s)
	case *parser.CopyStep:
		return sr.dispatchCopy(ctx, s)
	case *parser.WorkdirStep:
		return sr.dispatchWorkdir(ctx, s)
	default:
		return false, sr.dispatchMeta(step)
	}
}

// dispatchMeta applies a config-only instruction. Such steps add no layer; their effect is part of the
// cache key of every later step through the config they change.
func (sr *stageRun) dispatchMeta(step parser.Step) error {
	next := sr.st.clone()
	created, err := sr.applyMeta(next, step)
	if err != nil {
		return err
	}
	if created != "" {
		next.history = append(next.history, v1.History{Created: v1.Time{Time: next.created}, CreatedBy: created,
			Comment: "buildkit.dockerfile.v0", EmptyLayer: true})
	}
	next.key = metaKey(sr.st.key, next.cfg, sr.shell)
	sr.st = next
	return nil
}

// applyMeta changes next's config as the config-only step says and returns the step's history entry
// as BuildKit writes it ("" for none).
func (sr *stageRun) applyMeta(next *imageState, step parser.Step) (string, error) {
	c := &next.cfg.Config
	switch s := step.(type) {
	case *parser.EnvStep:
		return sr.applyEnv(next, s)
	case *parser.ArgStep:
		return sr.applyArg(next, s)
	case *parser.LabelStep:
		return sr.applyLabel(c, s)
	case *parser.MaintainerStep:
		next.cfg.Author = s.Name
		return "MAINTAINER " + s.Name, nil
	case *parser.ExposeStep:
		return sr.applyExpose(c, s)
	case *parser.CmdStep:
		return sr.applyCmd(c, s), nil
	case *parser.VolumeStep:
		return sr.applyVolume(c, s)
	case *parser.UserStep:
		u, err := sr.expand(s.User)
		if err != nil {
			return "", err
		}
		c.User = u
		return "USER " + u, nil
	case *parser.OnbuildStep:
		c.OnBuild = append(c.OnBuild, s.Expression)
		return "", nil // BuildKit writes no history entry for ONBUILD
	case *parser.StopSignalStep:
		return sr.applyStopSignal(c, s)
	case *parser.HealthcheckStep:
		c.Healthcheck = &v1.HealthConfig{Test: s.Test, Interval: s.Interval, Timeout: s.Timeout,
			StartPeriod: s.StartPeriod, Retries: s.Retries}
		if len(s.Test) == 1 && s.Test[0] == "NONE" {
			c.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}}
		}
		return healthcheckHistory(s), nil
	case *parser.ShellStep:
		sr.shell = append([]string(nil), s.Shell...)
		c.Shell = append([]string(nil), s.Shell...)
		return "SHELL [" + strings.Join(s.Shell, " ") + "]", nil
	}
	return "", fmt.Errorf("unsupported instruction %s", step.Kind())
}

// applyEnv sets ENV's pairs in the config and in the state's environment.
func (sr *stageRun) applyEnv(next *imageState, s *parser.EnvStep) (string, error) {
	c := &next.cfg.Config
	var parts []string
	env := sr.env() // every pair sees the environment from before the instruction
	for _, kv := range s.Pairs {
		k, err := sr.bd.plan.Expander().Expand(kv.Key, env)
		if err != nil {
			return "", err
		}
		v, err := sr.bd.plan.Expander().Expand(kv.Value, env)
		if err != nil {
			return "", err
		}
		c.Env = setEnv(c.Env, k, v)
		next.setStateEnv(k, v)
		parts = append(parts, k+"="+v)
	}
	return "ENV " + strings.Join(parts, " "), nil
}

// applyArg declares ARG's names. As BuildKit: each ARG with a value sets it in the environment RUN and
// expansion see (over an ENV of the same name), and the instruction is an empty-layer history entry
// "ARG K=V K2".
func (sr *stageRun) applyArg(next *imageState, s *parser.ArgStep) (string, error) {
	var parts []string
	for _, a := range s.Args {
		v, err := sr.declareArg(a, next.stateEnv())
		if err != nil {
			return "", err
		}
		part := a.Key
		if v != nil {
			next.setStateEnv(a.Key, *v)
			part += "=" + *v
		}
		next.buildArgs = append(next.buildArgs, declaredArg{key: a.Key, value: v})
		parts = append(parts, part)
	}
	return "ARG " + strings.Join(parts, " "), nil
}

// applyLabel adds LABEL's pairs to the config.
func (sr *stageRun) applyLabel(c *v1.Config, s *parser.LabelStep) (string, error) {
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	var parts []string
	for _, kv := range s.Pairs {
		k, err := sr.expand(kv.Key)
		if err != nil {
			return "", err
		}
		v, err := sr.expand(kv.Value)
		if err != nil {
			return "", err
		}
		c.Labels[k] = v
		parts = append(parts, k+"="+v)
	}
	return "LABEL " + strings.Join(parts, " "), nil
}

// applyExpose adds EXPOSE's ports (ranges expanded) to the config.
func (sr *stageRun) applyExpose(c *v1.Config, s *parser.ExposeStep) (string, error) {
	if c.ExposedPorts == nil {
		c.ExposedPorts = map[string]struct{}{}
	}
	var ports []string
	for _, p := range s.Ports {
		words, err := sr.bd.plan.Expander().ExpandWords(p, sr.env())
		if err != nil {
			return "", err
		}
		for _, w := range words {
			expanded, err := expandPorts(w)
			if err != nil {
				return "", err
			}
			for _, e := range expanded {
				c.ExposedPorts[e] = struct{}{}
				ports = append(ports, e)
			}
		}
	}
	return "EXPOSE [" + strings.Join(ports, " ") + "]", nil
}

// applyCmd sets CMD or ENTRYPOINT (the shell form run by the stage's SHELL); an ENTRYPOINT clears a
// CMD inherited from the base, not one this stage set.
func (sr *stageRun) applyCmd(c *v1.Config, s *parser.CmdStep) string {
	args := s.Args
	if s.Shell {
		args = append(append([]string(nil), sr.shell...), s.Args...)
	}
	c.ArgsEscaped = false
	if s.Entrypoint {
		c.Entrypoint = args
		if !sr.cmdSet {
			c.Cmd = nil
		}
		return "ENTRYPOINT " + jsonList(args)
	}
	c.Cmd = args
	sr.cmdSet = true
	return "CMD " + jsonList(args)
}

// applyVolume adds VOLUME's paths to the config.
func (sr *stageRun) applyVolume(c *v1.Config, s *parser.VolumeStep) (string, error) {
	if c.Volumes == nil {
		c.Volumes = map[string]struct{}{}
	}
	var paths []string
	for _, v := range s.Paths {
		p, err := sr.expand(v)
		if err != nil {
			return "", err
		}
		if strings.TrimSpace(p) == "" {
			return "", errors.New("VOLUME specified can not be an empty string")
		}
		c.Volumes[p] = struct{}{}
		paths = append(paths, p)
	}
	return "VOLUME [" + strings.Join(paths, " ") + "]", nil
}

// applyStopSignal sets STOPSIGNAL, which must name a signal.
func (sr *stageRun) applyStopSignal(c *v1.Config, s *parser.StopSignalStep) (string, error) {
	sig, err := sr.expand(s.Signal)
	if err != nil {
		return "", err
	}
	if err := validSignal(sig); err != nil {
		return "", err
	}
	c.StopSignal = sig
	return "STOPSIGNAL " + sig, nil
}

// healthcheckHistory is BuildKit's history entry of HEALTHCHECK: its HealthcheckConfig printed with %+v.
func healthcheckHistory(s *parser.HealthcheckStep) string {
	type healthcheckConfig struct { // the field order of BuildKit's dockerspec.HealthcheckConfig
		Test          []string
		Interval      time.Duration
		Timeout       time.Duration
		StartPeriod   time.Duration
		StartInterval time.Duration
		Retries       int
	}
	return fmt.Sprintf("HEALTHCHECK %+v", healthcheckConfig{Test: s.Test, Interval: s.Interval, Timeout: s.Timeout,
		StartPeriod: s.StartPeriod, StartInterval: s.StartInterval, Retries: s.Retries})
}

// metaKey keys a config-only step by its effect: the resulting config (and shell).
func metaKey(parent cache.Key, cfg *v1.ConfigFile, shell []string) cache.Key {
	c := cfg.Config
	return cache.NewKey(parent, "CONFIG").
		Strings("env", c.Env).Strings("cmd", c.Cmd).Strings("entrypoint", c.Entrypoint).
		String("user", c.User).String("workdir", c.WorkingDir).Map("labels", c.Labels).
		Strings("ports", setKeys(c.ExposedPorts)).Strings("volumes", setKeys(c.Volumes)).
		String("stopsignal", c.StopSignal).Strings("onbuild", c.OnBuild).Strings("shell", shell).
		String("healthcheck", fmt.Sprint(c.Healthcheck)).String("author", cfg.Author).Sum()
}

func setKeys(m map[string]struct{}) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

// declareArg handles ARG inside a stage and returns its value (nil: none): the --build-arg, else the
// default (expanded in env), else the global ARG value of the same name.
func (sr *stageRun) declareArg(a parser.ArgDef, env []string) (*string, error) {
	if v, ok := sr.bd.opts.BuildArgs[a.Key]; ok {
		sr.bd.markArgUsed(a.Key)
		sr.args = setEnv(sr.args, a.Key, v)
		return &v, nil
	}
	if a.Default != nil {
		v, err := sr.bd.plan.Expander().Expand(*a.Default, env)
		if err != nil {
			return nil, err
		}
		sr.args = setEnv(sr.args, a.Key, v)
		return &v, nil
	}
	if v, ok := sr.bd.globalArg(a.Key); ok {
		sr.args = setEnv(sr.args, a.Key, v)
		return &v, nil
	}
	return nil, nil
}

// globalArg is the value of a global (before the first FROM) ARG or a predefined platform ARG.
func (bd *build) globalArg(k string) (string, bool) {
	env := parserPlatform(bd.target.platform).Args()
	for _, ma := range bd.plan.MetaArgs {
		if v, ok := bd.opts.BuildArgs[ma.Key]; ok {
			bd.markArgUsed(ma.Key)
			env = setEnv(env, ma.Key, v)
		} else if ma.Default != nil {
			v, err := bd.plan.Expander().Expand(*ma.Default, env)
			if err == nil {
				env = setEnv(env, ma.Key, v)
			}
		}
	}
	return lookupEnv(env, k)
}

// dispatchWorkdir sets the working directory and creates it (owned by the current USER, as BuildKit
// does) when it does not exist.
func (sr *stageRun) dispatchWorkdir(ctx context.Context, s *parser.WorkdirStep) (bool, error) {
	p, err := sr.expand(s.Path)
	if err != nil {
		return false, err
	}
	// As BuildKit: an absolute path is kept as written (a trailing slash too), a relative one is
	// joined to the current one and cleaned.
	if !path.IsAbs(p) {
		p = path.Join("/", sr.st.cfg.Config.WorkingDir, p)
	}
	next := sr.st.clone()
	next.cfg.Config.WorkingDir = p
	created := "WORKDIR " + p
	if p == "/" {
		// BuildKit makes no layer for WORKDIR /: an empty-layer history entry.
		next.history = append(next.history, v1.History{Created: v1.Time{Time: next.created}, CreatedBy: created,
			Comment: "buildkit.dockerfile.v0", EmptyLayer: true})
		next.key = metaKey(sr.st.key, next.cfg, sr.shell)
		sr.st = next
		return false, nil
	}
	clean := path.Clean(p)
	kb := cache.NewKey(sr.st.key, "WORKDIR").String("path", clean).String("user", next.cfg.Config.User)
	if clean != p {
		kb.String("as-written", p)
	}
	sr.noBuildkitSuffix = true
	defer func() { sr.noBuildkitSuffix = false }()
	cached, err := sr.fsStep(ctx, next, kb, created, func(ctx context.Context, sfs *stepFS) error {
		return mkdirWorkdir(sfs.root, clean, next.cfg.Config.User)
	})
	if err != nil {
		return false, err
	}
	return cached, nil
}

func jsonList(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// expandPorts turns "80", "80/udp", "8000-8002/tcp" into docker's "port/proto" keys.
func expandPorts(spec string) ([]string, error) {
	port, proto, _ := strings.Cut(spec, "/")
	if proto == "" {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("invalid proto %q in EXPOSE %s", proto, spec)
	}
	lo, hi, isRange := strings.Cut(port, "-")
	start, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid containerPort: %s", port)
	}
	end := start
	if isRange {
		if end, err = strconv.ParseUint(hi, 10, 16); err != nil || end < start {
			return nil, fmt.Errorf("invalid range specified for port: %s", port)
		}
	}
	var out []string
	for p := start; p <= end; p++ {
		out = append(out, fmt.Sprintf("%d/%s", p, proto))
	}
	return out, nil
}

func validSignal(s string) error {
	if s == "" {
		return errors.New("STOPSIGNAL: empty signal")
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return fmt.Errorf("invalid signal: %s", s)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if _, ok := signalNames[name]; !ok && !strings.HasPrefix(name, "RTMIN") && !strings.HasPrefix(name, "RTMAX") {
		return fmt.Errorf("invalid signal: %s", s)
	}
	return nil
}

var signalNames = map[string]struct{}{
	"ABRT": {}, "ALRM": {}, "BUS": {}, "CHLD": {}, "CLD": {}, "CONT": {}, "FPE": {}, "HUP": {}, "ILL": {},
	"INT": {}, "IO": {}, "IOT": {}, "KILL": {}, "PIPE": {}, "POLL": {}, "PROF": {}, "PWR": {}, "QUIT": {},
	"SEGV": {}, "STKFLT": {}, "STOP": {}, "SYS": {}, "TERM": {}, "TRAP": {}, "TSTP": {}, "TTIN": {},
	"TTOU": {}, "URG": {}, "USR1": {}, "USR2": {}, "VTALRM": {}, "WINCH": {}, "XCPU": {}, "XFSZ": {},
}
