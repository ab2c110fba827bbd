package store

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/parser"
)

// ApplyChanges applies docker's --change instructions (import, commit) to cfg in order, as docker's
// daemon does: parsed by the Dockerfile parser, variables expanded against the config's environment
// as it stands before each instruction, the shell form of CMD and ENTRYPOINT under /bin/sh -c.
func ApplyChanges(cfg *v1.Config, changes []string) error {
	steps, exp, err := parser.ParseChanges(changes)
	if err != nil {
		return err
	}
	for _, s := range steps {
		if err := applyChange(cfg, s, exp); err != nil {
			return fmt.Errorf("--change %q: %w", s.Source(), err)
		}
	}
	return nil
}

func applyChange(c *v1.Config, step parser.Step, exp *parser.Expander) error {
	expand := func(w string) (string, error) { return exp.Expand(w, c.Env) }
	switch s := step.(type) {
	case *parser.EnvStep:
		env := c.Env // every pair sees the environment from before the instruction
		for _, kv := range s.Pairs {
			k, err := exp.Expand(kv.Key, env)
			if err != nil {
				return err
			}
			v, err := exp.Expand(kv.Value, env)
			if err != nil {
				return err
			}
			c.Env = setEnvVar(c.Env, k, v)
		}
	case *parser.LabelStep:
		return applyLabels(c, s.Pairs, expand)
	case *parser.CmdStep:
		args := s.Args
		if s.Shell {
			args = append([]string{"/bin/sh", "-c"}, s.Args...)
		}
		if s.Entrypoint {
			c.Entrypoint = args
		} else {
			c.Cmd = args
		}
	case *parser.ExposeStep:
		return applyExpose(c, s.Ports, exp)
	case *parser.VolumeStep:
		return applyVolumes(c, s.Paths, expand)
	case *parser.OnbuildStep:
		c.OnBuild = append(c.OnBuild, s.Expression)
	default:
		return applyWord(c, step, expand)
	}
	return nil
}

// applyWord is the single-word instructions: USER, WORKDIR, STOPSIGNAL.
func applyWord(c *v1.Config, step parser.Step, expand func(string) (string, error)) error {
	var err error
	switch s := step.(type) {
	case *parser.UserStep:
		c.User, err = expand(s.User)
	case *parser.WorkdirStep:
		var p string
		if p, err = expand(s.Path); err == nil {
			c.WorkingDir = joinWorkdir(c.WorkingDir, p)
		}
	case *parser.StopSignalStep:
		c.StopSignal, err = expand(s.Signal)
	default:
		err = fmt.Errorf("%s is not a valid change command", strings.ToLower(string(step.Kind())))
	}
	return err
}

func applyLabels(c *v1.Config, pairs []parser.KV, expand func(string) (string, error)) error {
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	for _, kv := range pairs {
		k, err := expand(kv.Key)
		if err != nil {
			return err
		}
		v, err := expand(kv.Value)
		if err != nil {
			return err
		}
		c.Labels[k] = v
	}
	return nil
}

func applyExpose(c *v1.Config, ports []string, exp *parser.Expander) error {
	if c.ExposedPorts == nil {
		c.ExposedPorts = map[string]struct{}{}
	}
	for _, p := range ports {
		words, err := exp.ExpandWords(p, c.Env)
		if err != nil {
			return err
		}
		for _, w := range words {
			if !strings.Contains(w, "/") {
				w += "/tcp"
			}
			c.ExposedPorts[w] = struct{}{}
		}
	}
	return nil
}

func applyVolumes(c *v1.Config, paths []string, expand func(string) (string, error)) error {
	if c.Volumes == nil {
		c.Volumes = map[string]struct{}{}
	}
	for _, v := range paths {
		p, err := expand(v)
		if err != nil {
			return err
		}
		if strings.TrimSpace(p) == "" {
			return fmt.Errorf("VOLUME specified can not be an empty string")
		}
		c.Volumes[p] = struct{}{}
	}
	return nil
}

// joinWorkdir is WORKDIR's rule: a relative path is relative to the current working directory.
func joinWorkdir(cur, p string) string {
	if strings.HasPrefix(p, "/") || cur == "" {
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		return p
	}
	return strings.TrimSuffix(cur, "/") + "/" + p
}

// setEnvVar sets k=v in env, replacing an earlier k.
func setEnvVar(env []string, k, v string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if ek, _, _ := strings.Cut(e, "="); ek != k {
			out = append(out, e)
		}
	}
	return append(out, k+"="+v)
}
