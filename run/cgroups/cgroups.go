// Package cgroups places containers in cgroups (v1 or v2, whichever the host
// has), applies their resource limits and reads their statistics.
//
// A container's cgroup is "hoist/<id>": on cgroup v2 under the root of the
// unified hierarchy (the root is exempt from the no-internal-processes rule,
// so controllers can be delegated); on cgroup v1 under the caller's own
// cgroup in each hierarchy (memory, cpu, cpuacct, pids, blkio, devices), so a
// hoist running inside a limited cgroup keeps its containers inside it too.
//
// Device access (Resources.Devices) is the devices controller on v1 and, on
// v2, an eBPF program attached to the cgroup (devicefilter.go).
package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/moby/sys/userns"
)

// Resources are the limits of a cgroup; zero values mean "no limit".
type Resources struct {
	Memory    int64 // bytes
	NanoCPUs  int64 // 1e9 = one CPU
	PidsLimit int64 // > 0
	// Devices are the device rules: DefaultDeviceRules() plus an allow per
	// --device for a container. They apply in order after "deny all", with
	// the meaning the v1 devices.allow and devices.deny files give them, on
	// v1 and v2 alike: an 'a' rule sets the default to its verdict and drops
	// every earlier rule; a later rule takes access back only from an earlier
	// one with exactly its type and numbers (see deviceSet). Nil means no
	// device control (--privileged); an empty list denies every device (and
	// stays empty, not nil, through JSON).
	Devices []DeviceRule
}

// Stats are a cgroup's counters at one moment.
type Stats struct {
	CPUNanos    uint64 // total CPU time used
	MemoryUsage uint64 // bytes
	MemoryLimit uint64 // bytes; 0 = none known
	Pids        uint64
	BlockRead   uint64 // bytes
	BlockWrite  uint64 // bytes
}

// Cgroup is one container's cgroup: one directory (v2) or one per
// hierarchy (v1). Its value is what callers persist to find it again.
type Cgroup struct {
	// V2 tells which layout Paths follow.
	V2 bool `json:"v2"`
	// Paths are absolute directories: the single v2 directory, or
	// controller name → directory for v1.
	Paths map[string]string `json:"paths"`
}

// ErrUnavailable is returned when the host has no usable cgroup hierarchy.
var ErrUnavailable = errors.New("no usable cgroup hierarchy")

// ErrNotDelegated is returned in a user namespace (rootless hoist): the host gives an ordinary user
// no cgroups of its own on cgroup v1, and hoist does not yet use a delegated cgroup v2 subtree.
var ErrNotDelegated = errors.New("rootless hoist cannot create cgroups on this host " +
	"(an ordinary user gets none on cgroup v1, and delegated cgroup v2 subtrees are not supported yet)")

const mountRoot = "/sys/fs/cgroup"

// v1Controllers are the hierarchies hoist uses on cgroup v1 (freezer: commit --pause).
var v1Controllers = []string{"memory", "cpu", "cpuacct", "pids", "blkio", "devices", "freezer"}

// IsV2 reports whether the host uses the unified (v2) hierarchy only.
func IsV2() bool {
	_, err := os.Stat(filepath.Join(mountRoot, "cgroup.controllers"))
	return err == nil
}

// Create makes the cgroup of container id and applies r. A cgroup of that
// name left behind (by a killed monitor) is emptied and replaced.
func Create(id string, r Resources) (*Cgroup, error) {
	if userns.RunningInUserNS() {
		return nil, ErrNotDelegated
	}
	var cg *Cgroup
	var err error
	if IsV2() {
		cg, err = createV2(id)
	} else {
		cg, err = createV1(id)
	}
	if err != nil {
		return nil, err
	}
	if err := cg.apply(r); err != nil {
		_ = cg.Destroy()
		return nil, err
	}
	return cg, nil
}

// CreateOrNone is Create for a sandbox that can run without a cgroup of its own: where cgroups
// cannot be created (ErrNotDelegated) and r asks for no limit, it returns a Cgroup without
// directories, through which nothing is limited, counted or killed. The user namespace stands in for
// the device rules there: it cannot create device nodes, and the sandbox's /dev holds bind mounts of
// the host's harmless ones only. A limit that cannot be applied is an error naming it, never ignored.
func CreateOrNone(id string, r Resources) (*Cgroup, error) {
	cg, err := Create(id, r)
	if !errors.Is(err, ErrNotDelegated) {
		return cg, err
	}
	if err := limitsError(r, err); err != nil {
		return nil, err
	}
	return &Cgroup{Paths: map[string]string{}}, nil
}

// CheckLimits returns, before anything is made, the error CreateOrNone would give for the limits
// of r: in a user namespace (rootless hoist) no limit can be applied.
func CheckLimits(r Resources) error {
	if !userns.RunningInUserNS() {
		return nil
	}
	return limitsError(r, ErrNotDelegated)
}

// limitsError is err naming the limits r asks for, nil when it asks for none.
func limitsError(r Resources, err error) error {
	var limits []string
	for _, l := range []struct {
		set  bool
		name string
	}{{r.Memory != 0, "--memory"}, {r.NanoCPUs != 0, "--cpus"}, {r.PidsLimit > 0, "--pids-limit"}} {
		if l.set {
			limits = append(limits, l.name)
		}
	}
	if len(limits) > 0 {
		return fmt.Errorf("%s: %w", strings.Join(limits, ", "), err)
	}
	return nil
}

func createV2(id string) (*Cgroup, error) {
	parent := filepath.Join(mountRoot, "hoist")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", parent, err)
	}
	for _, d := range []string{mountRoot, parent} {
		// Best effort: a controller the kernel lacks is simply not limited.
		for _, c := range []string{"+cpu", "+memory", "+pids", "+io"} {
			_ = os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte(c), 0)
		}
	}
	dir := filepath.Join(parent, id)
	if err := removeDir(dir); err != nil {
		return nil, err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
	}
	return &Cgroup{V2: true, Paths: map[string]string{"": dir}}, nil
}

func createV1(id string) (*Cgroup, error) {
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	own, err := ownCgroups()
	if err != nil {
		return nil, err
	}
	cg := &Cgroup{Paths: map[string]string{}}
	for _, c := range v1Controllers {
		mnt, ok := mounts[c]
		if !ok {
			continue
		}
		dir := filepath.Join(mnt, own[c], "hoist", id)
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			_ = cg.Destroy()
			return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		if sharedDir(cg, dir) {
			cg.Paths[c] = dir // co-mounted with an earlier controller
			continue
		}
		if err := removeDir(dir); err != nil {
			_ = cg.Destroy()
			return nil, err
		}
		if err := os.Mkdir(dir, 0o755); err != nil {
			_ = cg.Destroy()
			return nil, fmt.Errorf("creating cgroup %s: %w", dir, err)
		}
		cg.Paths[c] = dir
	}
	if len(cg.Paths) == 0 {
		return nil, ErrUnavailable
	}
	return cg, nil
}

// sharedDir reports whether dir is already one of cg's (co-mounted controllers).
func sharedDir(cg *Cgroup, dir string) bool {
	for _, p := range cg.Paths {
		if p == dir {
			return true
		}
	}
	return false
}

// v1Mounts maps each v1 controller to its hierarchy's mount point.
func v1Mounts() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mountinfo: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 || qf[0] != "cgroup" {
			continue
		}
		for _, o := range strings.Split(qf[2], ",") {
			out[o] = pf[4]
		}
	}
	if len(out) == 0 {
		return nil, ErrUnavailable
	}
	return out, nil
}

// ownCgroups maps each v1 controller to this process's cgroup path in it.
func ownCgroups() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading /proc/self/cgroup: %w", err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out, nil
}

func write(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("setting cgroup %s: %w", file, err)
	}
	return nil
}

func (cg *Cgroup) apply(r Resources) error {
	const period = 100000
	if r.Devices != nil {
		if err := cg.applyDevices(r.Devices); err != nil {
			return err
		}
	}
	if cg.V2 {
		dir := cg.Paths[""]
		if r.Memory > 0 {
			if err := write(dir, "memory.max", strconv.FormatInt(r.Memory, 10)); err != nil {
				return err
			}
			_ = write(dir, "memory.swap.max", "0") // like docker with --memory-swap = --memory
		}
		if r.NanoCPUs > 0 {
			if err := write(dir, "cpu.max", fmt.Sprintf("%d %d", r.NanoCPUs*period/1e9, period)); err != nil {
				return err
			}
		}
		if r.PidsLimit > 0 {
			return write(dir, "pids.max", strconv.FormatInt(r.PidsLimit, 10))
		}
		return nil
	}
	need := func(c string) (string, error) {
		d, ok := cg.Paths[c]
		if !ok {
			return "", fmt.Errorf("cgroup v1 controller %s is not mounted: %w", c, ErrUnavailable)
		}
		return d, nil
	}
	if r.Memory > 0 {
		d, err := need("memory")
		if err != nil {
			return err
		}
		if err := write(d, "memory.limit_in_bytes", strconv.FormatInt(r.Memory, 10)); err != nil {
			return err
		}
		_ = write(d, "memory.memsw.limit_in_bytes", strconv.FormatInt(r.Memory, 10))
	}
	if r.NanoCPUs > 0 {
		d, err := need("cpu")
		if err != nil {
			return err
		}
		if err := write(d, "cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
			return err
		}
		if err := write(d, "cpu.cfs_quota_us", strconv.FormatInt(r.NanoCPUs*period/1e9, 10)); err != nil {
			return err
		}
	}
	if r.PidsLimit > 0 {
		d, err := need("pids")
		if err != nil {
			return err
		}
		return write(d, "pids.max", strconv.FormatInt(r.PidsLimit, 10))
	}
	return nil
}

// Add moves process pid into the cgroup.
func (cg *Cgroup) Add(pid int) error {
	for _, d := range cg.dirs() {
		if err := write(d, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// dirs lists the distinct directories of cg.
func (cg *Cgroup) dirs() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range append([]string{""}, v1Controllers...) {
		if d, ok := cg.Paths[c]; ok && !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// Pids lists the processes in the cgroup.
func (cg *Cgroup) Pids() ([]int, error) {
	dirs := cg.dirs()
	if len(dirs) == 0 {
		return nil, nil
	}
	data, err := os.ReadFile(filepath.Join(dirs[0], "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("reading cgroup processes: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids, nil
}

// Destroy kills every process left in the cgroup and removes it. Removing a
// cgroup that is gone is not an error.
func (cg *Cgroup) Destroy() error {
	var errs []error
	for _, d := range cg.dirs() {
		if err := removeDir(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func removeDir(dir string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.Remove(dir)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", dir, err)
		}
		if data, rerr := os.ReadFile(filepath.Join(dir, "cgroup.procs")); rerr == nil {
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
}
