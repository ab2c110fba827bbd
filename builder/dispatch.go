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
	c := &next.cfg.Config
	created := step.Source()
	switch s := step.(type) {
	case *parser.EnvStep:
		var parts []string
		env := sr.env() // every pair sees the environment from before the instruction
		for _, kv := range s.Pairs {
			k, err := sr.bd.plan.Expander().Expand(kv.Key, env)
			if err != nil {
				return err
			}
			v, err := sr.bd.plan.Expander().Expand(kv.Value, env)
			if err != nil {
				return err
			}
			c.Env = setEnv(c.Env, k, v)
			next.setStateEnv(k, v)
			parts = append(parts, k+"="+v)
		}
		created = "ENV " + strings.Join(parts, " ")
	case *parser.ArgStep:
		// As BuildKit: each ARG with a value sets it in the environment RUN and expansion see (over an
		// ENV of the same name), and the instruction is an empty-layer history entry "ARG K=V K2".
		var parts []string
		for _, a := range s.Args {
			v, err := sr.declareArg(a, next.stateEnv())
			if err != nil {
				return err
			}
			part := a.Key
			if v != nil {
				next.setStateEnv(a.Key, *v)
				part += "=" + *v
			}
			next.buildArgs = append(next.buildArgs, declaredArg{key: a.Key, value: v})
			parts = append(parts, part)
		}
		created = "ARG " + strings.Join(parts, " ")
	case *parser.LabelStep:
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		var parts []string
		for _, kv := range s.Pairs {
			k, err := sr.expand(kv.Key)
			if err != nil {
				return err
			}
			v, err := sr.expand(kv.Value)
			if err != nil {
				return err
			}
			c.Labels[k] = v
			parts = append(parts, k+"="+v)
		}
		created = "LABEL " + strings.Join(parts, " ")
	case *parser.MaintainerStep:
		next.cfg.Author = s.Name
		created = "MAINTAINER " + s.Name
	case *parser.ExposeStep:
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		var ports []string
		for _, p := range s.Ports {
			words, err := sr.bd.plan.Expander().ExpandWords(p, sr.env())
			if err != nil {
				return err
			}
			for _, w := range words {
				expanded, err := expandPorts(w)
				if err != nil {
					return err
				}
				for _, e := range expanded {
					c.ExposedPorts[e] = struct{}{}
					ports = append(ports, e)
				}
			}
		}
		created = "EXPOSE [" + strings.Join(ports, " ") + "]"
	case *parser.CmdStep:
		args := s.Args
		if s.Shell {
			args = append(append([]string(nil), sr.shell...), s.Args...)
		}
		if s.Entrypoint {
			c.Entrypoint = args
			if !sr.cmdSet {
				c.Cmd = nil
			}
			created = "ENTRYPOINT " + jsonList(args)
		} else {
			c.Cmd = args
			sr.cmdSet = true
			created = "CMD " + jsonList(args)
		}
		c.ArgsEscaped = false
	case *parser.VolumeStep:
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		var paths []string
		for _, v := range s.Paths {
			p, err := sr.expand(v)
			if err != nil {
				return err
			}
			if strings.TrimSpace(p) == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			c.Volumes[p] = struct{}{}
			paths = append(paths, p)
		}
		created = "VOLUME [" + strings.Join(paths, " ") + "]"
	case *parser.UserStep:
		u, err := sr.expand(s.User)
		if err != nil {
			return err
		}
		c.User = u
		created = "USER " + u
	case *parser.OnbuildStep:
		c.OnBuild = append(c.OnBuild, s.Expression)
		created = "" // BuildKit writes no history entry for ONBUILD
	case *parser.StopSignalStep:
		sig, err := sr.expand(s.Signal)
		if err != nil {
			return err
		}
		if err := validSignal(sig); err != nil {
			return err
		}
		c.StopSignal = sig
		created = "STOPSIGNAL " + sig
	case *parser.HealthcheckStep:
		c.Healthcheck = &v1.HealthConfig{Test: s.Test, Interval: s.Interval, Timeout: s.Timeout,
			StartPeriod: s.StartPeriod, Retries: s.Retries}
		if len(s.Test) == 1 && s.Test[0] == "NONE" {
			c.Healthcheck = &v1.HealthConfig{Test: []string{"NONE"}}
		}
		created = healthcheckHistory(s)
	case *parser.ShellStep:
		sr.shell = append([]string(nil), s.Shell...)
		c.Shell = append([]string(nil), s.Shell...)
		created = "SHELL [" + strings.Join(s.Shell, " ") + "]"
	default:
		return fmt.Errorf("unsupported instruction %s", step.Kind())
	}
	if created != "" {
		next.history = append(next.history, v1.History{Created: v1.Time{Time: next.created}, CreatedBy: created,
			Comment: "buildkit.dockerfile.v0", EmptyLayer: true})
	}
	next.key = metaKey(sr.st.key, next.cfg, sr.shell)
	sr.st = next
	return nil
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
	env := parser.HostPlatform().Args()
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
