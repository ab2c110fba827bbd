// Package container is hoist's container lifecycle on top of the sandbox in
// package run: containers made from images in the store, with state on disk
// under <root>/containers/<id>/, docker's IDs and names, foreground and
// detached runs (a small per-container monitor process), logs in docker's
// json-file format, restart policies, cgroups and networking.
//
// There is no daemon: every operation reads and writes the container's files
// under a per-container lock, and the monitor of a running container is the
// only writer of its run state.
package container

import (
	"time"

	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/cgroups"
	"github.com/hoistbuild/hoist/run/network"
)

// Status values, as docker's.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusRestarting = "restarting"
	StatusExited     = "exited"
	StatusRemoving   = "removing"
	StatusDead       = "dead"
)

// Config is what a container is created with; it never changes afterwards
// except for its Name (rename).
type Config struct {
	Image      string   `json:"image"`   // as the user gave it
	ImageID    string   `json:"imageID"` // sha256:<config digest>
	Manifest   string   `json:"manifest"`
	Entrypoint []string `json:"entrypoint"`
	Cmd        []string `json:"cmd"`
	Env        []string `json:"env"`
	WorkingDir string   `json:"workingDir"`
	User       string   `json:"user"`
	Hostname   string   `json:"hostname"`
	Tty        bool     `json:"tty"`
	// ConsoleSize is the initial [rows, columns] of a -t container's pty (docker's
	// HostConfig.ConsoleSize: the client's terminal at create); zero: 24x80.
	ConsoleSize [2]uint  `json:"consoleSize,omitempty"`
	OpenStdin   bool     `json:"openStdin"`
	ReadOnly    bool     `json:"readOnly"`
	Mounts      []Mount  `json:"mounts"`
	Network     string   `json:"network"` // bridge, host, none
	Ports       []Port   `json:"ports"`   // requested
	Exposed     []string `json:"exposed"` // "80/tcp", from the image and --expose

	// Security is --privileged, --cap-add/--cap-drop, --security-opt and
	// --device: run and exec apply the same.
	Security    run.Security      `json:"security"`
	Tmpfs       []Tmpfs           `json:"tmpfs,omitempty"`
	Init        bool              `json:"init,omitempty"` // --init
	ShmSize     int64             `json:"shmSize,omitempty"`
	Ulimits     []run.Rlimit      `json:"ulimits,omitempty"`
	ExtraHosts  []network.Host    `json:"extraHosts,omitempty"` // --add-host
	DNS         run.DNS           `json:"dns,omitempty"`        // --dns, --dns-search, --dns-option
	Resources   cgroups.Resources `json:"resources"`
	Restart     RestartPolicy     `json:"restart"`
	StopSignal  string            `json:"stopSignal"`
	StopTimeout int               `json:"stopTimeout"` // seconds; -1: default
	AutoRemove  bool              `json:"autoRemove"`
	Labels      map[string]string `json:"labels"`
	Log         LogConfig         `json:"log,omitempty"` // --log-driver, --log-opt
	// Healthcheck is the image's HEALTHCHECK with the --health-* flags applied (nil: none).
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
}

// Tmpfs is one --tmpfs mount.
type Tmpfs struct {
	Destination string   `json:"destination"`
	Options     []string `json:"options,omitempty"` // mount(8) options: size=64m, mode=1777, ro, noexec...
}

// Mount is a bind mount or a named volume.
type Mount struct {
	Type        string `json:"type"`   // "bind" or "volume"
	Source      string `json:"source"` // host path, or volume name
	Destination string `json:"destination"`
	ReadOnly    bool   `json:"readOnly"`
	// Propagation of a bind mount: "" (rprivate), private, rprivate, slave, rslave.
	Propagation string `json:"propagation,omitempty"`
	// NonRecursive: a bind mount without the mounts under its source (bind-nonrecursive).
	NonRecursive bool `json:"nonRecursive,omitempty"`
	// NoCopy: a volume is not filled from the image (volume-nocopy).
	NoCopy bool `json:"noCopy,omitempty"`
}

// Port is one -p request.
type Port struct {
	HostIP   string `json:"hostIP"`
	HostPort int    `json:"hostPort"` // 0: any free port
	// HostPortEnd > HostPort: the first free port of HostPort..HostPortEnd
	// (docker's -p 8000-8010:80).
	HostPortEnd   int    `json:"hostPortEnd,omitempty"`
	ContainerPort int    `json:"containerPort"`
	Proto         string `json:"proto"` // tcp or udp
}

// RestartPolicy is docker's --restart.
type RestartPolicy struct {
	Name     string `json:"name"` // no, always, on-failure, unless-stopped
	MaxRetry int    `json:"maxRetry"`
}

// Identity names a process across pid reuse: pid plus its start time.
type Identity struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"` // /proc/<pid>/stat field 22
}

// State is a container's run state.
type State struct {
	Status        string          `json:"status"`
	Container     Identity        `json:"container"` // PID 1 while running
	Monitor       Identity        `json:"monitor"`   // the process that waits for it
	ExitCode      int             `json:"exitCode"`
	Error         string          `json:"error,omitempty"`
	OOMKilled     bool            `json:"oomKilled"`
	StartedAt     time.Time       `json:"startedAt"`
	FinishedAt    time.Time       `json:"finishedAt"`
	RestartCount  int             `json:"restartCount"`
	StopRequested bool            `json:"stopRequested"` // stop/kill: no restart
	Cgroup        *cgroups.Cgroup `json:"cgroup,omitempty"`
	IPAddress     string          `json:"ipAddress,omitempty"`
	Gateway       string          `json:"gateway,omitempty"`
	Ports         []Port          `json:"ports,omitempty"` // as published (real host ports)
	// Health is the health check's state since the container first started with one; it stays
	// after the container stops, as docker's.
	Health *Health `json:"health,omitempty"`
}

// Running reports whether the container counts as running (docker's
// State.Running is true while restarting too).
func (s State) Running() bool { return s.Status == StatusRunning || s.Status == StatusRestarting }

// Container is one container as stored.
type Container struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Config  Config    `json:"config"`
	State   State     `json:"state"`
}

// Command is the container's argv: Entrypoint then Cmd.
func (c *Container) Command() []string {
	return append(append([]string{}, c.Config.Entrypoint...), c.Config.Cmd...)
}
