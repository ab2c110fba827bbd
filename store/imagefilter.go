package store

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"
)

// ImageRow is one line of `images`: an image under one of its names, or under <none> when it has
// none (dangling).
type ImageRow struct {
	Repository, Tag string // familiar forms; "<none>" for a dangling image
	Image           ImageSummary
}

// ImageFilter selects the rows of `images`: docker's --filter keys (dangling, reference, label,
// before, since) and the REPOSITORY[:TAG] argument. Several values of one key: any may match
// (references, before/since: the last one wins); different keys: all must match.
type ImageFilter struct {
	Dangling      *bool
	References    []string // path.Match patterns on familiar names, with or without the tag
	Labels        []string // KEY or KEY=VALUE
	Before, Since *time.Time
	Repository    string // the positional REPOSITORY[:TAG]
}

// ParseImageFilter parses --filter values; before/since name an image of this store.
func (s *Store) ParseImageFilter(ctx context.Context, filters []string) (ImageFilter, error) {
	var f ImageFilter
	for _, kv := range filters {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return f, fmt.Errorf("bad format of filter (expected name=value): %s", kv)
		}
		switch k {
		case "dangling":
			b, err := parseBoolFilter(v)
			if err != nil {
				return f, err
			}
			f.Dangling = &b
		case "reference":
			f.References = append(f.References, v)
		case "label":
			f.Labels = append(f.Labels, v)
		case "before", "since":
			t, err := s.createdOf(ctx, v)
			if err != nil {
				return f, err
			}
			if k == "before" {
				f.Before = &t
			} else {
				f.Since = &t
			}
		default:
			return f, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

func parseBoolFilter(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid filter 'dangling=%s'", v)
}

func (s *Store) createdOf(ctx context.Context, ref string) (time.Time, error) {
	ii, err := s.Inspect(ctx, ref)
	if err != nil {
		return time.Time{}, fmt.Errorf("no such image: %s", ref)
	}
	return time.Parse(time.RFC3339Nano, ii.Created)
}

// Rows returns the rows of list that f selects, in list's order.
func (f ImageFilter) Rows(list []ImageSummary) []ImageRow {
	var rows []ImageRow
	for _, im := range list {
		if !f.matchImage(im) {
			continue
		}
		if len(im.Names) == 0 {
			if len(f.References) == 0 && f.Repository == "" {
				rows = append(rows, ImageRow{Repository: "<none>", Tag: "<none>", Image: im})
			}
			continue
		}
		for _, n := range im.Names {
			ref, err := ParseName(n)
			if err != nil {
				continue
			}
			r := ImageRow{Repository: FamiliarRepo(ref), Tag: FamiliarTag(ref), Image: im}
			if f.matchName(r.Repository, r.Tag) {
				rows = append(rows, r)
			}
		}
	}
	return rows
}

func (f ImageFilter) matchImage(im ImageSummary) bool {
	if f.Dangling != nil && *f.Dangling != (len(im.Names) == 0) {
		return false
	}
	if f.Before != nil && !im.Created.Before(*f.Before) || f.Since != nil && !im.Created.After(*f.Since) {
		return false
	}
	if len(f.Labels) == 0 {
		return true
	}
	for _, l := range f.Labels {
		k, v, hasV := strings.Cut(l, "=")
		if got, ok := im.Labels[k]; !ok || hasV && got != v {
			return false
		}
	}
	return true
}

// matchName is docker's reference.FamiliarMatch: the pattern against "repo:tag", then against
// "repo".
func (f ImageFilter) matchName(repo, tag string) bool {
	if f.Repository != "" && !matchRepository(f.Repository, repo, tag) {
		return false
	}
	if len(f.References) == 0 {
		return true
	}
	for _, p := range f.References {
		if ok, _ := path.Match(p, repo+":"+tag); ok {
			return true
		}
		if ok, _ := path.Match(p, repo); ok {
			return true
		}
	}
	return false
}

// matchRepository is the REPOSITORY[:TAG] argument of `images`: the repository in any spelling
// (busybox, docker.io/library/busybox), the tag if given.
func matchRepository(filter, repo, tag string) bool {
	fr, ft, hasTag := strings.Cut(filter, ":")
	if strings.Contains(ft, "/") { // a registry port, not a tag
		fr, hasTag = filter, false
	}
	if fr != repo {
		if ref, err := ParseName(fr); err != nil || FamiliarRepo(ref) != repo {
			return false
		}
	}
	return !hasTag || ft == tag
}
