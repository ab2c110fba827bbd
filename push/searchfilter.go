package push

import (
	"fmt"
	"strconv"
	"strings"
)

// SearchResult is one repository search found, with docker's search fields. A registry's catalog
// has no description, stars or flags: those are zero.
type SearchResult struct {
	Name        string
	Description string
	StarCount   int
	IsOfficial  bool
	IsAutomated bool
}

// FilterSearch keeps the results that pass every docker search --filter: stars=N (at least N
// stars), is-official=true|false, is-automated=true|false. An unknown key or a bad value is an
// error naming the filter.
func FilterSearch(results []SearchResult, filters []string) ([]SearchResult, error) {
	type check func(SearchResult) bool
	var checks []check
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", f)
		}
		switch k {
		case "stars":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("invalid filter 'stars=%s'", v)
			}
			checks = append(checks, func(r SearchResult) bool { return r.StarCount >= n })
		case "is-official", "is-automated":
			b, err := strconv.ParseBool(v)
			if err != nil || (v != "true" && v != "false") {
				return nil, fmt.Errorf("invalid filter '%s=%s'", k, v)
			}
			if k == "is-official" {
				checks = append(checks, func(r SearchResult) bool { return r.IsOfficial == b })
			} else {
				checks = append(checks, func(r SearchResult) bool { return r.IsAutomated == b })
			}
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	var out []SearchResult
	for _, r := range results {
		keep := true
		for _, c := range checks {
			keep = keep && c(r)
		}
		if keep {
			out = append(out, r)
		}
	}
	return out, nil
}
