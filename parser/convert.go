package parser

import (
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// stageScope tracks the ARG values a stage can see while it is parsed, for the plan-time expansion of
// COPY --from and RUN --mount.
type stageScope struct {
	global    []string
	buildArgs map[string]string
	env       []string
}

func (s *stageScope) declare(a ArgDef) {
	if v, ok := s.buildArgs[a.Key]; ok {
		s.env = setEnv(s.env, a.Key, v)
		return
	}
	if a.Default != nil {
		s.env = setEnv(s.env, a.Key, *a.Default)
		return
	}
	if v, ok := lookupEnv(s.global, a.Key); ok {
		s.env = setEnv(s.env, a.Key, v)
	}
}

func (p *Plan) convert(c instructions.Command, exp *Expander, scope *stageScope) (Step, error) {
	b := base{loc: locOf(p.File, c.Location()), source: fmt.Sprint(c)}
	fail := func(err error) (Step, error) { return nil, &Error{Loc: b.loc, Source: b.source, Err: err} }
	expandWord := func(w string) (string, error) { return exp.Expand(w, scope.env) }
	switch c := c.(type) {
	case *instructions.RunCommand:
		if err := c.Expand(expandWord); err != nil {
			return fail(err)
		}
		s := &RunStep{base: b, Args: c.CmdLine, Shell: c.PrependShell,
			Network: string(instructions.GetNetwork(c)), Security: instructions.GetSecurity(c)}
		for _, f := range c.Files {
			s.Heredocs = append(s.Heredocs, Heredoc{Name: f.Name, Data: f.Data, Chomp: f.Chomp})
		}
		for _, m := range instructions.GetMounts(c) {
			s.Mounts = append(s.Mounts, RunMount{Type: string(m.Type), From: m.From, Source: m.Source,
				Target: m.Target, ReadOnly: m.ReadOnly, ID: m.CacheID, Sharing: string(m.CacheSharing),
				Required: m.Required, Env: m.Env, Mode: m.Mode, UID: m.UID, GID: m.GID, Size: m.SizeLimit})
		}
		return s, nil
	case *instructions.CopyCommand:
		s := &CopyStep{base: b, Sources: c.SourcePaths, Dest: c.DestPath, Chown: c.Chown, Chmod: c.Chmod,
			Link: c.Link, Parents: c.Parents, Excludes: c.ExcludePatterns}
		s.Heredocs = heredocs(c.SourceContents)
		if c.From != "" {
			from, err := expandWord(c.From)
			if err != nil {
				return fail(err)
			}
			s.From = from
		}
		return s, nil
	case *instructions.AddCommand:
		s := &CopyStep{base: b, Add: true, Sources: c.SourcePaths, Dest: c.DestPath, Chown: c.Chown,
			Chmod: c.Chmod, Link: c.Link, Excludes: c.ExcludePatterns, Checksum: c.Checksum, Unpack: c.Unpack,
			KeepGitDir: c.KeepGitDir}
		s.Heredocs = heredocs(c.SourceContents)
		return s, nil
	case *instructions.EnvCommand:
		return &EnvStep{base: b, Pairs: kvs(c.Env)}, nil
	case *instructions.ArgCommand:
		s := &ArgStep{base: b}
		for _, a := range c.Args {
			d := ArgDef{Key: a.Key, Default: a.Value}
			s.Args = append(s.Args, d)
			scope.declare(d)
		}
		return s, nil
	case *instructions.LabelCommand:
		return &LabelStep{base: b, Pairs: kvs(c.Labels)}, nil
	case *instructions.MaintainerCommand:
		return &MaintainerStep{base: b, Name: c.Maintainer}, nil
	case *instructions.ExposeCommand:
		return &ExposeStep{base: b, Ports: c.Ports}, nil
	case *instructions.CmdCommand:
		return &CmdStep{base: b, Args: c.CmdLine, Shell: c.PrependShell}, nil
	case *instructions.EntrypointCommand:
		return &CmdStep{base: b, Entrypoint: true, Args: c.CmdLine, Shell: c.PrependShell}, nil
	case *instructions.VolumeCommand:
		return &VolumeStep{base: b, Paths: c.Volumes}, nil
	case *instructions.UserCommand:
		return &UserStep{base: b, User: c.User}, nil
	case *instructions.WorkdirCommand:
		return &WorkdirStep{base: b, Path: c.Path}, nil
	case *instructions.OnbuildCommand:
		return &OnbuildStep{base: b, Expression: c.Expression}, nil
	case *instructions.StopSignalCommand:
		return &StopSignalStep{base: b, Signal: c.Signal}, nil
	case *instructions.ShellCommand:
		return &ShellStep{base: b, Shell: c.Shell}, nil
	case *instructions.HealthCheckCommand:
		h := c.Health
		s := &HealthcheckStep{base: b, Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
		return s, nil
	}
	return fail(fmt.Errorf("unsupported instruction %s", strings.ToUpper(c.Name())))
}

func kvs(in instructions.KeyValuePairs) []KV {
	out := make([]KV, 0, len(in))
	for _, kv := range in {
		out = append(out, KV{Key: kv.Key, Value: kv.Value})
	}
	return out
}

func heredocs(in []instructions.SourceContent) []Heredoc {
	var out []Heredoc
	for _, sc := range in {
		out = append(out, Heredoc{Name: sc.Path, Data: sc.Data, Expand: sc.Expand})
	}
	return out
}
