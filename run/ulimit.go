package run

import (
	"fmt"

	units "github.com/docker/go-units"
)

// ParseUlimits parses docker's --ulimit values (NAME=SOFT[:HARD], -1 for
// unlimited); a later value for the same resource replaces an earlier one,
// as with docker. The limits are not checked against what the caller may
// set: see [CheckRlimits].
func ParseUlimits(values []string) ([]Rlimit, error) {
	var out []Rlimit
	seen := map[string]int{}
	for _, u := range values {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return nil, fmt.Errorf("--ulimit %q: %w", u, err)
		}
		if ul.Soft < -1 || ul.Hard < -1 {
			return nil, fmt.Errorf("--ulimit %q: a limit is a number or -1 (unlimited)", u)
		}
		rl := Rlimit{Name: ul.Name, Soft: uint64(ul.Soft), Hard: uint64(ul.Hard)} // -1: RlimInfinity
		if i, ok := seen[ul.Name]; ok {
			out[i] = rl
			continue
		}
		seen[ul.Name] = len(out)
		out = append(out, rl)
	}
	return out, nil
}
