// Package sysinfo collects what `hoist info` prints: each fact from the package that owns the rule
// (the storage driver from snapshot's probe, cgroups from run/cgroups, the user namespace from
// internal/rootless, runnable platforms from internal/binfmt) and the host's own (kernel, OS,
// CPUs, memory). Field names follow docker's `docker info --format` where the meaning is the same.
package sysinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/internal/binfmt"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/run/cgroups"
	"github.com/hoistbuild/hoist/snapshot"
)

// Options say where hoist keeps its state and which storage driver was asked for.
type Options struct {
	Root       string          // --root
	RuntimeDir string          // runtime state: network leases, the rootless server's socket
	Driver     snapshot.Driver // --storage-driver, "" to probe
	Version    string          // hoist's version
	BinfmtDir  string          // binfmt.DefaultDir ("") or a test's
}

// Info is the result; docker's names where docker has the same fact.
type Info struct {
	ClientVersion   string      `json:"ClientVersion"`
	Driver          string      `json:"Driver"`
	DriverStatus    [][2]string `json:"DriverStatus"`
	RootDir         string      `json:"RootDir"`
	RuntimeDir      string      `json:"RuntimeDir"`
	CgroupDriver    string      `json:"CgroupDriver"` // cgroupfs, or none where hoist cannot create cgroups
	CgroupVersion   string      `json:"CgroupVersion"`
	CgroupsReason   string      `json:"CgroupsReason,omitempty"`
	Rootless        bool        `json:"Rootless"`
	UIDMap          []string    `json:"UIDMap,omitempty"` // "inside outside count", as /proc/PID/uid_map
	GIDMap          []string    `json:"GIDMap,omitempty"`
	Networks        []string    `json:"Networks"`
	Outbound        string      `json:"Outbound"` // host, pasta, slirp4netns, or none
	SecurityOptions []string    `json:"SecurityOptions"`
	KernelVersion   string      `json:"KernelVersion"`
	OperatingSystem string      `json:"OperatingSystem"`
	OSType          string      `json:"OSType"`
	Architecture    string      `json:"Architecture"`
	NCPU            int         `json:"NCPU"`
	MemTotal        int64       `json:"MemTotal"`
	Name            string      `json:"Name"`
	Platforms       []string    `json:"Platforms"`
	Emulators       []Emulator  `json:"Emulators"`
	Warnings        []string    `json:"Warnings"`
}

// Emulator is a binfmt_misc entry that runs another platform's binaries.
type Emulator struct {
	Name, Platform, Interpreter, Flags string
}

// Collect gathers Info. Only the storage driver can fail it (a --storage-driver that cannot work
// here); everything else that cannot be read is left empty with a warning.
func Collect(o Options) (*Info, error) {
	in := &Info{ClientVersion: o.Version, RootDir: o.Root, RuntimeDir: o.RuntimeDir, OSType: runtime.GOOS,
		NCPU: runtime.NumCPU(), Rootless: rootless.Active(), Warnings: []string{}}
	if err := in.storage(o); err != nil {
		return nil, err
	}
	in.cgroups()
	if err := in.namespaces(); err != nil {
		in.Warnings = append(in.Warnings, err.Error())
	}
	in.security()
	in.host()
	in.platforms(o.BinfmtDir)
	return in, nil
}

func (in *Info) storage(o Options) error {
	s, err := snapshot.New(filepath.Join(o.Root, "snapshots"), snapshot.WithDriver(o.Driver))
	if err != nil {
		return err
	}
	st, err := s.Driver()
	if err != nil {
		return err
	}
	in.Driver = string(st.Driver)
	in.DriverStatus = append(in.DriverStatus, [2]string{"Backing Filesystem", backingFS(o.Root)})
	switch st.Driver {
	case snapshot.DriverOverlay:
		in.DriverStatus = append(in.DriverStatus, [2]string{"userxattr", strconv.FormatBool(st.UserXattr)})
	case snapshot.DriverFuseOverlayfs:
		in.DriverStatus = append(in.DriverStatus, [2]string{"Program", st.Program})
	}
	if st.Forced {
		in.DriverStatus = append(in.DriverStatus, [2]string{"Chosen by", "--storage-driver"})
	}
	for _, r := range st.Skipped {
		in.DriverStatus = append(in.DriverStatus, [2]string{"Not used", r})
	}
	return nil
}

// backingFS names the filesystem under root as docker does (extfs, xfs, btrfs, tmpfs, ...).
func backingFS(root string) string {
	var fs unix.Statfs_t
	if err := unix.Statfs(root, &fs); err != nil {
		return "unknown"
	}
	names := map[int64]string{unix.EXT4_SUPER_MAGIC: "extfs", unix.XFS_SUPER_MAGIC: "xfs", unix.BTRFS_SUPER_MAGIC: "btrfs",
		unix.TMPFS_MAGIC: "tmpfs", unix.OVERLAYFS_SUPER_MAGIC: "overlayfs",
		unix.NFS_SUPER_MAGIC: "nfs", unix.FUSE_SUPER_MAGIC: "fuse", unix.F2FS_SUPER_MAGIC: "f2fs"}
	if n, ok := names[int64(fs.Type)]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", fs.Type)
}

func (in *Info) cgroups() {
	st := cgroups.Probe()
	in.CgroupVersion = strconv.Itoa(st.Version)
	in.CgroupDriver = "cgroupfs"
	if !st.CanCreate {
		in.CgroupDriver, in.CgroupsReason = "none", st.Reason
		in.Warnings = append(in.Warnings, "No cgroups: --memory, --cpus and --pids-limit fail, stats show no usage ("+st.Reason+")")
	}
}

func (in *Info) namespaces() error {
	in.Networks = []string{"bridge", "host", "none"}
	in.Outbound = "host"
	if !in.Rootless {
		return nil
	}
	st, err := rootless.Inspect()
	if err != nil {
		return err
	}
	for _, r := range st.UIDMap {
		in.UIDMap = append(in.UIDMap, r.String())
	}
	for _, r := range st.GIDMap {
		in.GIDMap = append(in.GIDMap, r.String())
	}
	if len(st.UIDMap) < 2 || len(st.GIDMap) < 2 {
		in.Warnings = append(in.Warnings, "No subordinate ids: only the user's own id exists in the user namespace")
	}
	in.Outbound = st.Outbound
	if in.Outbound == "" {
		in.Outbound = "none"
		in.Warnings = append(in.Warnings, "No outbound network for containers and RUN steps: "+st.NoOutbound)
	}
	return nil
}

func (in *Info) security() {
	in.SecurityOptions = []string{}
	if seccompSupported() {
		in.SecurityOptions = append(in.SecurityOptions, "name=seccomp,profile=builtin")
	}
	if in.Rootless {
		in.SecurityOptions = append(in.SecurityOptions, "name=rootless")
	}
	in.SecurityOptions = append(in.SecurityOptions, "name=cgroupns")
}

// seccompSupported: the kernel has seccomp filters (a "Seccomp:" line in /proc/self/status).
func seccompSupported() bool {
	b, err := os.ReadFile("/proc/self/status")
	return err == nil && bytes.Contains(b, []byte("\nSeccomp:"))
}

func (in *Info) host() {
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		in.KernelVersion = unix.ByteSliceToString(u.Release[:])
		in.Architecture = unix.ByteSliceToString(u.Machine[:])
	}
	in.OperatingSystem = osRelease("/etc/os-release")
	in.MemTotal = memTotal("/proc/meminfo")
	in.Name, _ = os.Hostname()
}

// osRelease is PRETTY_NAME of an os-release file.
func osRelease(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				return u
			}
			return v
		}
	}
	return "unknown"
}

// memTotal is MemTotal of /proc/meminfo in bytes.
func memTotal(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// platforms lists what the builder and run can execute (the host's platform first, then the others
// in order, as internal/binfmt decides) and every binfmt_misc handler of a known architecture.
func (in *Info) platforms(dir string) {
	c := binfmt.Checker{Dir: dir}
	host := platform.Format(platform.Host())
	in.Platforms = []string{host}
	run, err := c.Platforms()
	if err != nil {
		in.Warnings = append(in.Warnings, err.Error())
	}
	for _, p := range run {
		if f := formatPlatform(p); f != host {
			in.Platforms = append(in.Platforms, f)
		}
	}
	hs, _ := c.Handlers()
	sort.Slice(hs, func(i, j int) bool { return hs[i].Name < hs[j].Name })
	in.Emulators = []Emulator{}
	for _, h := range hs {
		if p, ok := h.Platform(); ok {
			in.Emulators = append(in.Emulators, Emulator{Name: h.Name, Platform: platform.Format(platform.Normalize(p)), Interpreter: h.Interpreter, Flags: h.Flags})
		}
	}
}

// formatPlatform normalizes "linux/arm" (linux/arm/v7) as an image's platform is.
func formatPlatform(s string) string {
	o, arch, _ := strings.Cut(s, "/")
	return platform.Format(platform.Normalize(v1.Platform{OS: o, Architecture: arch}))
}
