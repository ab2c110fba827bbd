package container

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PsRow is one container as `ps` templates see it: docker's field names and text forms, so
// `--format '{{json .}}'` prints what docker prints.
type PsRow struct {
	Command, CreatedAt, ID, Image, Labels, LocalVolumes, Mounts, Names, Networks string
	Platform                                                                     any
	Ports, RunningFor, Size, State, Status                                       string
}

// PsHeader gives each PsRow field its column title.
var PsHeader = map[string]string{"Command": "COMMAND", "CreatedAt": "CREATED AT", "ID": "CONTAINER ID",
	"Image": "IMAGE", "Labels": "LABELS", "LocalVolumes": "LOCAL VOLUMES", "Mounts": "MOUNTS", "Names": "NAMES",
	"Networks": "NETWORKS", "Platform": "PLATFORM", "Ports": "PORTS", "RunningFor": "CREATED", "Size": "SIZE",
	"State": "STATE", "Status": "STATUS"}

// CommandText is docker's COMMAND cell: the command line with every argument that holds a space
// in single quotes, cut to 20 runes when trunc, then Go-quoted (so a newline shows as \n).
func CommandText(argv []string, trunc bool) string {
	var words []string
	for i, a := range argv {
		if i > 0 && strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		words = append(words, a)
	}
	s := strings.Join(words, " ")
	if r := []rune(s); trunc && len(r) > 20 {
		s = string(r[:19]) + "…"
	}
	return strconv.Quote(s)
}

// PsView is c's ps row at now. size is the SIZE cell ("" leaves docker's "0B").
func (r *Runtime) PsView(c *Container, now time.Time, trunc bool, size string) PsRow {
	id := c.ID
	if trunc {
		id = id[:12]
	}
	var labels, mounts []string
	volumes := 0
	for k, v := range c.Config.Labels {
		labels = append(labels, k+"="+v)
	}
	sort.Strings(labels)
	for _, m := range c.Config.Mounts {
		name := m.Source
		if m.Type == "volume" {
			volumes++
			if trunc && len(name) > 15 {
				name = name[:15] + "…"
			}
		}
		mounts = append(mounts, name)
	}
	network := c.Config.Network
	if network == "" || network == "default" {
		network = "bridge"
	}
	if size == "" {
		size = "0B"
	}
	return PsRow{
		Command: CommandText(c.Command(), trunc), CreatedAt: c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		ID: id, Image: c.Config.Image, Labels: strings.Join(labels, ","), LocalVolumes: strconv.Itoa(volumes),
		Mounts: strings.Join(mounts, ","), Names: c.Name, Networks: network, Ports: PortsText(c),
		RunningFor: HumanDuration(now.Sub(c.Created)) + " ago", Size: size, State: c.State.Status,
		Status: StatusText(c, now),
	}
}

// WritableSize is the bytes a container wrote (its overlay upper dir), docker's SizeRw.
func (r *Runtime) WritableSize(c *Container) int64 {
	var n int64
	_ = filepath.WalkDir(filepath.Join(r.Dir(c.ID), "upper"), func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// PsFilter is `ps`'s selection: docker's --filter keys (status, name, id, label, ancestor, exited,
// before, since), -a, and -n/-l (the last N created, any state).
type PsFilter struct {
	by   map[string][]string
	All  bool
	Last int // > 0: only the newest Last containers
}

// ParsePsFilter parses --filter values (KEY=VALUE).
func ParsePsFilter(filters []string) (PsFilter, error) {
	f := PsFilter{by: map[string][]string{}}
	for _, kv := range filters {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return f, fmt.Errorf("bad format of filter (expected name=value): %s", kv)
		}
		switch k {
		case "status", "name", "id", "label", "ancestor", "before", "since":
		case "exited":
			if _, err := strconv.Atoi(v); err != nil {
				return f, fmt.Errorf("invalid filter 'exited=%s'", v)
			}
		default:
			return f, fmt.Errorf("invalid filter '%s'", k)
		}
		f.by[k] = append(f.by[k], v)
	}
	return f, nil
}

// Select returns the containers of list (newest first, as List gives) that f selects.
func (f PsFilter) Select(list []*Container) ([]*Container, error) {
	all := f.All || f.Last > 0 || len(f.by["status"]) > 0 || len(f.by["exited"]) > 0
	before, since, err := f.bounds(list)
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, c := range list {
		if f.Last > 0 && len(out) >= f.Last {
			break
		}
		if !all && !c.State.Running() || !before.IsZero() && !c.Created.Before(before) ||
			!since.IsZero() && !c.Created.After(since) || !f.match(c) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// bounds are the creation times of the before= and since= containers.
func (f PsFilter) bounds(list []*Container) (before, since time.Time, err error) {
	find := func(ref string) (time.Time, error) {
		for _, c := range list {
			if c.Name == strings.TrimPrefix(ref, "/") || strings.HasPrefix(c.ID, ref) {
				return c.Created, nil
			}
		}
		return time.Time{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	for _, v := range f.by["before"] {
		if before, err = find(v); err != nil {
			return
		}
	}
	for _, v := range f.by["since"] {
		if since, err = find(v); err != nil {
			return
		}
	}
	return
}

// match applies the keyed filters: any value of a key, every key.
func (f PsFilter) match(c *Container) bool {
	for k, vs := range f.by {
		if k == "before" || k == "since" {
			continue
		}
		ok := false
		for _, v := range vs {
			ok = ok || matchPs(c, k, v)
		}
		if !ok {
			return false
		}
	}
	return true
}

func matchPs(c *Container, k, v string) bool {
	switch k {
	case "status":
		return c.State.Status == v
	case "name":
		return strings.Contains(c.Name, strings.TrimPrefix(v, "/"))
	case "id":
		return strings.HasPrefix(c.ID, v)
	case "ancestor":
		return c.Config.Image == v || strings.HasPrefix(c.Config.ImageID, v)
	case "exited":
		return c.State.Status == StatusExited && strconv.Itoa(c.State.ExitCode) == v
	case "label":
		lk, lv, hasV := strings.Cut(v, "=")
		cv, has := c.Config.Labels[lk]
		return has && (!hasV || cv == lv)
	}
	return false
}
