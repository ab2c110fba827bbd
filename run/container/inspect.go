package container

import (
	"strconv"
	"strings"
	"time"
)

// Inspect is `docker inspect`'s view of a container, with docker's field
// names, so that --format templates written for docker work.
type Inspect struct {
	ID              string          `json:"Id"`
	Created         string          `json:"Created"`
	Path            string          `json:"Path"`
	Args            []string        `json:"Args"`
	State           InspectState    `json:"State"`
	Image           string          `json:"Image"`
	ResolvConfPath  string          `json:"ResolvConfPath"`
	HostnamePath    string          `json:"HostnamePath"`
	HostsPath       string          `json:"HostsPath"`
	LogPath         string          `json:"LogPath"`
	Name            string          `json:"Name"`
	RestartCount    int             `json:"RestartCount"`
	Driver          string          `json:"Driver"`
	Platform        string          `json:"Platform"`
	HostConfig      HostConfig      `json:"HostConfig"`
	Mounts          []InspectMount  `json:"Mounts"`
	Config          InspectConfig   `json:"Config"`
	NetworkSettings NetworkSettings `json:"NetworkSettings"`
	GraphDriver     map[string]any  `json:"GraphDriver"`
}

// InspectState is docker's State object.
type InspectState struct {
	Status     string `json:"Status"`
	Running    bool   `json:"Running"`
	Paused     bool   `json:"Paused"`
	Restarting bool   `json:"Restarting"`
	OOMKilled  bool   `json:"OOMKilled"`
	Dead       bool   `json:"Dead"`
	Pid        int    `json:"Pid"`
	ExitCode   int    `json:"ExitCode"`
	Error      string `json:"Error"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
	// Health is there once a container with a health check has started.
	Health *InspectHealth `json:"Health,omitempty"`
}

// InspectHealth is docker's State.Health.
type InspectHealth struct {
	Status        string                `json:"Status"`
	FailingStreak int                   `json:"FailingStreak"`
	Log           []InspectHealthResult `json:"Log"`
}

// InspectHealthResult is one entry of State.Health.Log.
type InspectHealthResult struct {
	Start    time.Time `json:"Start"`
	End      time.Time `json:"End"`
	ExitCode int       `json:"ExitCode"`
	Output   string    `json:"Output"`
}

// InspectHealthConfig is docker's Config.Healthcheck (durations in nanoseconds).
type InspectHealthConfig struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// HostConfig is the part of docker's HostConfig hoist has.
type HostConfig struct {
	Binds          []string                 `json:"Binds"`
	NetworkMode    string                   `json:"NetworkMode"`
	PortBindings   map[string][]PortBinding `json:"PortBindings"`
	RestartPolicy  map[string]any           `json:"RestartPolicy"`
	AutoRemove     bool                     `json:"AutoRemove"`
	ReadonlyRootfs bool                     `json:"ReadonlyRootfs"`
	Memory         int64                    `json:"Memory"`
	NanoCpus       int64                    `json:"NanoCpus"`
	PidsLimit      *int64                   `json:"PidsLimit"`
	ExtraHosts     []string                 `json:"ExtraHosts"`
	DNS            []string                 `json:"Dns"`
	DNSSearch      []string                 `json:"DnsSearch"`
	DNSOptions     []string                 `json:"DnsOptions"`
	LogConfig      InspectLogConfig         `json:"LogConfig"`
}

// InspectLogConfig is HostConfig.LogConfig.
type InspectLogConfig struct {
	Type   string            `json:"Type"`
	Config map[string]string `json:"Config"`
}

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// InspectMount is one entry of Mounts.
type InspectMount struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
}

// InspectConfig is docker's Config object.
type InspectConfig struct {
	Hostname     string               `json:"Hostname"`
	User         string               `json:"User"`
	Tty          bool                 `json:"Tty"`
	OpenStdin    bool                 `json:"OpenStdin"`
	ExposedPorts map[string]struct{}  `json:"ExposedPorts"`
	Env          []string             `json:"Env"`
	Cmd          []string             `json:"Cmd"`
	Healthcheck  *InspectHealthConfig `json:"Healthcheck,omitempty"`
	Image        string               `json:"Image"`
	WorkingDir   string               `json:"WorkingDir"`
	Entrypoint   []string             `json:"Entrypoint"`
	Labels       map[string]string    `json:"Labels"`
	StopSignal   string               `json:"StopSignal,omitempty"`
	StopTimeout  *int                 `json:"StopTimeout,omitempty"`
}

// NetworkSettings is docker's NetworkSettings object (default bridge fields).
type NetworkSettings struct {
	IPAddress   string                   `json:"IPAddress"`
	IPPrefixLen int                      `json:"IPPrefixLen"`
	Gateway     string                   `json:"Gateway"`
	Ports       map[string][]PortBinding `json:"Ports"`
	Networks    map[string]any           `json:"Networks"`
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// InspectView returns c as docker inspect shows it.
func (r *Runtime) InspectView(c *Container) Inspect {
	cmd := c.Command()
	in := Inspect{
		ID: c.ID, Created: timeString(c.Created), Image: c.Config.ImageID,
		Name: "/" + c.Name, RestartCount: c.State.RestartCount, Driver: "overlay2", Platform: "linux",
		LogPath:        r.LogPath(c.ID),
		ResolvConfPath: r.Dir(c.ID) + "/resolv.conf", HostnamePath: r.Dir(c.ID) + "/hostname", HostsPath: r.Dir(c.ID) + "/hosts",
		GraphDriver: map[string]any{"Name": "overlay2", "Data": map[string]string{
			"UpperDir": r.Dir(c.ID) + "/upper", "WorkDir": r.Dir(c.ID) + "/work", "MergedDir": r.Dir(c.ID) + "/rootfs"}},
	}
	if len(cmd) > 0 {
		in.Path, in.Args = cmd[0], cmd[1:]
	}
	if in.Args == nil {
		in.Args = []string{}
	}
	s := c.State
	in.State = InspectState{
		Status: s.Status, Running: s.Running(), Restarting: s.Status == StatusRestarting,
		OOMKilled: s.OOMKilled, Dead: s.Status == StatusDead, ExitCode: s.ExitCode, Error: s.Error,
		StartedAt: timeString(s.StartedAt), FinishedAt: timeString(s.FinishedAt),
	}
	if s.Status == StatusRunning {
		in.State.Pid = s.Container.Pid
	}
	in.State.Health = inspectHealth(s.Health)
	hc := HostConfig{
		NetworkMode: c.Config.Network, AutoRemove: c.Config.AutoRemove, ReadonlyRootfs: c.Config.ReadOnly,
		Memory: c.Config.Resources.Memory, NanoCpus: c.Config.Resources.NanoCPUs,
		RestartPolicy: map[string]any{"Name": c.Config.Restart.Name, "MaximumRetryCount": c.Config.Restart.MaxRetry},
		PortBindings:  map[string][]PortBinding{},
		DNS:           nonNil(c.Config.DNS.Servers), DNSSearch: nonNil(c.Config.DNS.Search), DNSOptions: nonNil(c.Config.DNS.Options),
	}
	hc.LogConfig = InspectLogConfig{Type: c.Config.Log.Driver, Config: c.Config.Log.Opts}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = LogJSONFile
	}
	if hc.LogConfig.Config == nil {
		hc.LogConfig.Config = map[string]string{}
	}
	for _, h := range c.Config.ExtraHosts {
		hc.ExtraHosts = append(hc.ExtraHosts, h.Name+":"+h.IP) // as given (docker keeps host-gateway)
	}
	if c.Config.Resources.PidsLimit > 0 {
		n := c.Config.Resources.PidsLimit
		hc.PidsLimit = &n
	}
	for _, p := range c.Config.Ports {
		k := strconv.Itoa(p.ContainerPort) + "/" + p.Proto
		hp := ""
		if p.HostPort > 0 {
			hp = strconv.Itoa(p.HostPort)
		}
		if p.HostPortEnd > p.HostPort {
			hp += "-" + strconv.Itoa(p.HostPortEnd)
		}
		hc.PortBindings[k] = append(hc.PortBindings[k], PortBinding{HostIP: p.HostIP, HostPort: hp})
	}
	in.Mounts = []InspectMount{}
	for _, m := range c.Config.Mounts {
		im := InspectMount{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly}
		if m.ReadOnly {
			im.Mode = "ro"
		}
		if m.Type == "volume" {
			im.Name, im.Source = m.Source, r.volumePath(m.Source)
		} else {
			b := m.Source + ":" + m.Destination
			if m.ReadOnly {
				b += ":ro"
			}
			hc.Binds = append(hc.Binds, b)
		}
		in.Mounts = append(in.Mounts, im)
	}
	in.HostConfig = hc
	ic := InspectConfig{
		Hostname: c.Config.Hostname, User: c.Config.User, Tty: c.Config.Tty, OpenStdin: c.Config.OpenStdin,
		Env: c.Config.Env, Cmd: c.Config.Cmd, Image: c.Config.Image, WorkingDir: c.Config.WorkingDir,
		Entrypoint: c.Config.Entrypoint, Labels: c.Config.Labels, StopSignal: c.Config.StopSignal,
	}
	if h := c.Config.Healthcheck; h != nil {
		ic.Healthcheck = &InspectHealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, StartInterval: h.StartInterval, Retries: h.Retries}
	}
	if c.Config.StopTimeout >= 0 {
		t := c.Config.StopTimeout
		ic.StopTimeout = &t
	}
	if len(c.Config.Exposed) > 0 {
		ic.ExposedPorts = map[string]struct{}{}
		for _, e := range c.Config.Exposed {
			ic.ExposedPorts[e] = struct{}{}
		}
	}
	in.Config = ic
	ns := NetworkSettings{Ports: map[string][]PortBinding{}, Networks: map[string]any{}}
	if s.Running() && s.IPAddress != "" {
		ns.IPAddress, ns.Gateway, ns.IPPrefixLen = s.IPAddress, s.Gateway, 16
	}
	for _, e := range c.Config.Exposed {
		ns.Ports[e] = nil
	}
	for _, p := range s.Ports {
		k := strconv.Itoa(p.ContainerPort) + "/" + p.Proto
		ns.Ports[k] = append(ns.Ports[k], PortBinding{HostIP: p.HostIP, HostPort: strconv.Itoa(p.HostPort)})
	}
	name := c.Config.Network
	if name == "" {
		name = "bridge"
	}
	ns.Networks[name] = map[string]any{"IPAddress": ns.IPAddress, "Gateway": ns.Gateway, "IPPrefixLen": ns.IPPrefixLen}
	in.NetworkSettings = ns
	return in
}

func inspectHealth(h *Health) *InspectHealth {
	if h == nil {
		return nil
	}
	in := &InspectHealth{Status: h.Status, FailingStreak: h.FailingStreak, Log: []InspectHealthResult{}}
	for _, r := range h.Log {
		in.Log = append(in.Log, InspectHealthResult(r))
	}
	return in
}

// StatusText is ps's STATUS column: "Up 3 seconds", "Up 3 seconds (healthy)", "Up 1 second
// (health: starting)", "Exited (0) 2 minutes ago", "Created".
func StatusText(c *Container, now time.Time) string {
	s := c.State
	switch s.Status {
	case StatusRunning:
		if s.Health != nil {
			return "Up " + HumanDuration(now.Sub(s.StartedAt)) + " (" + healthText(s.Health) + ")"
		}
		return "Up " + HumanDuration(now.Sub(s.StartedAt))
	case StatusRestarting:
		return "Restarting (" + strconv.Itoa(s.ExitCode) + ") " + HumanDuration(now.Sub(s.FinishedAt)) + " ago"
	case StatusExited:
		return "Exited (" + strconv.Itoa(s.ExitCode) + ") " + HumanDuration(now.Sub(s.FinishedAt)) + " ago"
	}
	return strings.ToUpper(s.Status[:1]) + s.Status[1:]
}

// HumanDuration is docker's go-units HumanDuration.
func HumanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return strconv.Itoa(s) + " seconds"
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return strconv.Itoa(m) + " minutes"
	}
	switch h := int(d.Round(time.Hour).Hours()); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return strconv.Itoa(h) + " hours"
	case h < 24*7*2:
		return strconv.Itoa(h/24) + " days"
	case h < 24*30*2:
		return strconv.Itoa(h/24/7) + " weeks"
	case h < 24*365*2:
		return strconv.Itoa(h/24/30) + " months"
	default:
		return strconv.Itoa(h/24/365) + " years"
	}
}

// PortsText is ps's PORTS column: "127.0.0.1:32768->80/tcp", with runs of
// consecutive host and container ports shown as docker does:
// "127.0.0.1:8000-8001->80-81/tcp".
func PortsText(c *Container) string {
	var parts []string
	ps := c.State.Ports
	for i := 0; i < len(ps); {
		p, j := ps[i], i+1
		for j < len(ps) && ps[j].HostIP == p.HostIP && ps[j].Proto == p.Proto &&
			ps[j].HostPort == p.HostPort+(j-i) && ps[j].ContainerPort == p.ContainerPort+(j-i) {
			j++
		}
		host, ctr := strconv.Itoa(p.HostPort), strconv.Itoa(p.ContainerPort)
		if j-i > 1 {
			host += "-" + strconv.Itoa(ps[j-1].HostPort)
			ctr += "-" + strconv.Itoa(ps[j-1].ContainerPort)
		}
		parts = append(parts, p.HostIP+":"+host+"->"+ctr+"/"+p.Proto)
		i = j
	}
	if len(parts) == 0 {
		for _, e := range c.Config.Exposed {
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, ", ")
}

// nonNil is s, or an empty list (docker's inspect shows [] rather than null).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
