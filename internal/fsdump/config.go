package fsdump

import (
	"bytes"
	"encoding/json"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ConfigDump renders the runtime-relevant fields of an image config as
// indented JSON with sorted keys, followed by a newline. Exactly these keys
// are present, never omitted: Cmd, Entrypoint, Env, ExposedPorts,
// Healthcheck, Labels, OnBuild, Shell, StopSignal, User, Volumes,
// WorkingDir. An empty string, slice or map, or a nil Healthcheck, is
// written as null, so "unset" and "set to empty" compare equal. Healthcheck,
// when present, always has all of Test, Interval, Timeout, StartPeriod
// (nanoseconds) and Retries. Everything else, ArgsEscaped included, is left
// out. HTML characters are not escaped.
func ConfigDump(cfg v1.Config) []byte {
	m := map[string]any{
		"Cmd":          strList(cfg.Cmd),
		"Entrypoint":   strList(cfg.Entrypoint),
		"Env":          strList(cfg.Env),
		"ExposedPorts": set(cfg.ExposedPorts),
		"Healthcheck":  health(cfg.Healthcheck),
		"Labels":       labels(cfg.Labels),
		"OnBuild":      strList(cfg.OnBuild),
		"Shell":        strList(cfg.Shell),
		"StopSignal":   str(cfg.StopSignal),
		"User":         str(cfg.User),
		"Volumes":      set(cfg.Volumes),
		"WorkingDir":   str(cfg.WorkingDir),
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	// A map of strings, slices and maps of strings cannot fail to encode.
	if err := enc.Encode(m); err != nil {
		return []byte("null\n")
	}
	return b.Bytes()
}

func str(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func strList(s []string) any {
	if len(s) == 0 {
		return nil
	}
	return s
}

func set(m map[string]struct{}) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func labels(m map[string]string) any {
	if len(m) == 0 {
		return nil
	}
	return m
}

func health(h *v1.HealthConfig) any {
	if h == nil {
		return nil
	}
	return map[string]any{
		"Test":        strList(h.Test),
		"Interval":    int64(h.Interval),
		"Timeout":     int64(h.Timeout),
		"StartPeriod": int64(h.StartPeriod),
		"Retries":     h.Retries,
	}
}
