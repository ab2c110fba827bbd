package builder

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ParseSecret parses one `--secret` value as docker buildx does: id=ID with src=FILE (or source=),
// env=VAR, or neither (the variable named ID); type=file|env is accepted and ignored. A file source
// must exist. lookupEnv reads the caller's environment (os.LookupEnv for a CLI); the builder never
// reads it itself. The error does not repeat spec.
func ParseSecret(spec string, lookupEnv func(string) (string, bool)) (string, Secret, error) {
	var id, src, env string
	for _, field := range strings.Split(spec, ",") {
		k, v, _ := strings.Cut(field, "=")
		switch k {
		case "id":
			id = v
		case "src", "source":
			src = v
		case "env":
			env = v
		case "type":
		default:
			return "", Secret{}, fmt.Errorf("unknown field %q", k)
		}
	}
	if id == "" {
		return "", Secret{}, errors.New("id is required")
	}
	switch {
	case src != "":
		if _, err := os.Stat(src); err != nil {
			return "", Secret{}, err
		}
		return id, Secret{File: src}, nil
	case env != "":
		v, ok := lookupEnv(env)
		if !ok {
			return "", Secret{}, fmt.Errorf("environment variable %s is not set", env)
		}
		return id, Secret{Env: v}, nil
	default:
		v, ok := lookupEnv(id)
		if !ok {
			return "", Secret{}, errors.New("give src=FILE or env=VAR")
		}
		return id, Secret{Env: v}, nil
	}
}
