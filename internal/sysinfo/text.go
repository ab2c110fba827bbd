package sysinfo

import (
	"fmt"
	"io"
	"strings"

	units "github.com/docker/go-units"
)

// WriteText prints in as `docker info` prints its own: a Client section, then the host's (hoist has
// no server; what docker shows under Server is what hoist finds on this host).
func (in *Info) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	p("Client:")
	p(" Version:    %s", in.ClientVersion)
	p("")
	p("Host:")
	p(" Storage Driver: %s", in.Driver)
	for _, kv := range in.DriverStatus {
		p("  %s: %s", kv[0], kv[1])
	}
	p(" Cgroup Driver: %s", in.CgroupDriver)
	p(" Cgroup Version: %s", in.CgroupVersion)
	if in.CgroupsReason != "" {
		p("  Can create cgroups: no (%s)", in.CgroupsReason)
	}
	p(" Rootless: %t", in.Rootless)
	if in.Rootless {
		p("  UID Map: %s", strings.Join(in.UIDMap, ", "))
		p("  GID Map: %s", strings.Join(in.GIDMap, ", "))
	}
	p(" Network: %s", strings.Join(in.Networks, " "))
	p("  Outbound: %s", in.Outbound)
	p(" Security Options:")
	for _, o := range in.SecurityOptions {
		name, profile := securityOption(o)
		p("  %s", name)
		if profile != "" {
			p("   Profile: %s", profile)
		}
	}
	p(" Kernel Version: %s", in.KernelVersion)
	p(" Operating System: %s", in.OperatingSystem)
	p(" OSType: %s", in.OSType)
	p(" Architecture: %s", in.Architecture)
	p(" Platforms: %s", strings.Join(in.Platforms, " "))
	for _, e := range in.Emulators {
		p("  Emulator: %s: %s (%s, flags %q)", e.Platform, e.Interpreter, e.Name, e.Flags)
	}
	p(" CPUs: %d", in.NCPU)
	p(" Total Memory: %s", units.BytesSize(float64(in.MemTotal)))
	p(" Name: %s", in.Name)
	p(" Hoist Root Dir: %s", in.RootDir)
	p(" Hoist Runtime Dir: %s", in.RuntimeDir)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteWarnings prints in's warnings as docker info does (on its standard error).
func (in *Info) WriteWarnings(w io.Writer) {
	for _, warn := range in.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

// securityOption splits docker's "name=seccomp,profile=builtin".
func securityOption(o string) (name, profile string) {
	for _, kv := range strings.Split(o, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "name":
			name = v
		case "profile":
			profile = v
		}
	}
	return name, profile
}
