package commands

import (
	"fmt"
	"os"
	"strings"

	"github.com/hoistbuild/hoist/builder"
)

// parseKeyValues parses KEY=VALUE flags; with fromEnv a bare KEY takes its value from the environment
// (and is skipped when unset), as docker's --build-arg does.
func parseKeyValues(flag string, in []string, fromEnv bool) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("%s %q: missing key", flag, kv)
		}
		if !ok {
			if !fromEnv {
				out[k] = ""
				continue
			}
			ev, set := os.LookupEnv(k)
			if !set {
				continue
			}
			v = ev
		}
		out[k] = v
	}
	return out, nil
}

// parseSecrets parses --secret values (builder.ParseSecret) from hoist's environment.
func parseSecrets(in []string) (map[string]builder.Secret, error) {
	out := map[string]builder.Secret{}
	for _, spec := range in {
		id, sec, err := builder.ParseSecret(spec, os.LookupEnv)
		if err != nil {
			return nil, fmt.Errorf("--secret %q: %w", spec, err)
		}
		out[id] = sec
	}
	return out, nil
}

// parseSSH parses --ssh values (builder.ParseSSH) with hoist's SSH_AUTH_SOCK.
func parseSSH(in []string) (map[string]builder.SSH, error) {
	out := map[string]builder.SSH{}
	for _, spec := range in {
		s, err := builder.ParseSSH(spec, os.Getenv("SSH_AUTH_SOCK"))
		if err != nil {
			return nil, err
		}
		if _, dup := out[s.ID]; dup {
			return nil, fmt.Errorf("--ssh %s: duplicate agent ID %q", spec, s.ID)
		}
		out[s.ID] = s
	}
	return out, nil
}

// parseBuildContexts parses --build-context values (builder.ParseBuildContext); a later value for a
// name replaces an earlier one, as buildx's map does.
func parseBuildContexts(in []string) (map[string]builder.NamedContext, error) {
	out := map[string]builder.NamedContext{}
	for _, spec := range in {
		key, nc, err := builder.ParseBuildContext(spec)
		if err != nil {
			return nil, err
		}
		out[key] = nc
	}
	return out, nil
}

// cacheFields parses "k=v,k=v" (a bare value is a registry ref, as buildx accepts).
func cacheFields(flag, spec string) (map[string]string, error) {
	out := map[string]string{}
	if !strings.Contains(spec, "=") {
		return map[string]string{"type": "registry", "ref": spec}, nil
	}
	for _, f := range strings.Split(spec, ",") {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: expected key=value, got %q", flag, spec, f)
		}
		out[k] = v
	}
	if out["type"] == "" {
		out["type"] = "registry"
	}
	return out, nil
}

func parseCacheSource(spec string) (builder.CacheSource, error) {
	f, err := cacheFields("--cache-from", spec)
	if err != nil {
		return builder.CacheSource{}, err
	}
	switch f["type"] {
	case "registry":
		if f["ref"] == "" {
			return builder.CacheSource{}, fmt.Errorf("--cache-from %q: ref is required", spec)
		}
		return builder.CacheSource{Type: "registry", Ref: f["ref"]}, nil
	case "local":
		if f["src"] == "" {
			return builder.CacheSource{}, fmt.Errorf("--cache-from %q: src is required", spec)
		}
		return builder.CacheSource{Type: "local", Dir: f["src"]}, nil
	}
	return builder.CacheSource{}, fmt.Errorf("--cache-from %q: unknown type %q (registry, local)", spec, f["type"])
}

func parseCacheTarget(spec string) (builder.CacheTarget, error) {
	f, err := cacheFields("--cache-to", spec)
	if err != nil {
		return builder.CacheTarget{}, err
	}
	t := builder.CacheTarget{Type: f["type"], Ref: f["ref"], Dir: f["dest"], Mode: f["mode"]}
	if t.Mode == "" {
		t.Mode = "min"
	}
	if t.Mode != "min" && t.Mode != "max" {
		return t, fmt.Errorf("--cache-to %q: mode must be min or max", spec)
	}
	switch v := f["cache-mounts"]; v {
	case "", "false":
	case "true":
		t.CacheMounts = true
	default:
		return t, fmt.Errorf("--cache-to %q: cache-mounts must be true or false", spec)
	}
	switch t.Type {
	case "registry":
		if t.Ref == "" {
			return t, fmt.Errorf("--cache-to %q: ref is required", spec)
		}
	case "local":
		if t.Dir == "" {
			return t, fmt.Errorf("--cache-to %q: dest is required", spec)
		}
	default:
		return t, fmt.Errorf("--cache-to %q: unknown type %q (registry, local)", spec, t.Type)
	}
	return t, nil
}

// parseAnnotations parses the --annotation values (builder.ParseAnnotation).
func parseAnnotations(in []string) (builder.Annotations, error) {
	var out builder.Annotations
	for _, s := range in {
		a, err := builder.ParseAnnotation(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a...)
	}
	return out, nil
}

// outputsToStdout reports whether an output writes to standard output (dest=-).
func outputsToStdout(outs []builder.Output) bool {
	for _, o := range outs {
		if o.ToStdout() {
			return true
		}
	}
	return false
}
