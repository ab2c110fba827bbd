package container

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
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
	network := networkName(c)
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
// before, since, publish, expose, volume, network, health), -a, and -n/-l (the last N created, any
// state).
type PsFilter struct {
	by    map[string][]string
	ports map[string]map[string]bool // publish/expose: the container ports ("80/tcp") asked for
	All   bool
	Last  int // > 0: only the newest Last containers
}

// ParsePsFilter parses --filter values (KEY=VALUE) with docker's checks.
func ParsePsFilter(filters []string) (PsFilter, error) {
	f := PsFilter{by: map[string][]string{}, ports: map[string]map[string]bool{}}
	for _, kv := range filters {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return f, fmt.Errorf("bad format of filter (expected name=value): %s", kv)
		}
		switch k {
		case "status", "name", "id", "label", "ancestor", "before", "since", "volume", "network":
		case "exited":
			if _, err := strconv.Atoi(v); err != nil {
				return f, fmt.Errorf("invalid filter 'exited=%s'", v)
			}
		case "publish", "expose":
			if err := f.addPorts(k, v); err != nil {
				return f, err
			}
		case "health":
			switch v {
			case HealthNone, HealthStarting, HealthHealthy, HealthUnhealthy:
			default:
				return f, fmt.Errorf("Unrecognised filter value for health: %s", v)
			}
		default:
			return f, fmt.Errorf("invalid filter '%s'", k)
		}
		f.by[k] = append(f.by[k], v)
	}
	return f, nil
}

// addPorts adds a publish/expose value to f: docker's PORT[/PROTO] or START-END[/PROTO] (tcp when
// no protocol is given).
func (f PsFilter) addPorts(key, v string) error {
	if strings.Contains(v, ":") {
		return fmt.Errorf("filter for '%s' should not contain ':': %s", key, v)
	}
	port, proto, _ := strings.Cut(v, "/")
	if proto == "" {
		proto = "tcp"
	}
	lo, hi, isRange := strings.Cut(port, "-")
	if !isRange {
		hi = lo
	}
	start, err1 := strconv.ParseUint(lo, 10, 16)
	end, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || end < start {
		return fmt.Errorf("error while looking up for %s %s: invalid port range", key, v)
	}
	if f.ports[key] == nil {
		f.ports[key] = map[string]bool{}
	}
	for p := start; p <= end; p++ {
		f.ports[key][strconv.FormatUint(p, 10)+"/"+proto] = true
	}
	return nil
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
		switch k {
		case "before", "since":
			continue
		case "publish", "expose":
			if !matchPorts(c, k, f.ports[k]) {
				return false
			}
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

// matchPorts: publish= matches the container ports of -p/-P, expose= the exposed ports (image
// EXPOSE, --expose and -p), as docker's HostConfig.PortBindings and Config.ExposedPorts.
func matchPorts(c *Container, key string, want map[string]bool) bool {
	if key == "publish" {
		for _, p := range c.Config.Ports {
			if want[strconv.Itoa(p.ContainerPort)+"/"+p.Proto] {
				return true
			}
		}
		return false
	}
	for _, e := range c.Config.Exposed {
		if want[e] {
			return true
		}
	}
	return false
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
	case "volume":
		// A volume's name or a bind mount's source, or either's destination.
		return slices.ContainsFunc(c.Config.Mounts, func(m Mount) bool { return m.Source == v || m.Destination == v })
	case "network":
		return networkName(c) == v
	case "health":
		return healthStatus(c) == v
	}
	return false
}

// networkName is the name of the container's network, as ps and inspect show it.
func networkName(c *Container) string {
	if n := c.Config.Network; n != "" && n != "default" {
		return n
	}
	return "bridge"
}
