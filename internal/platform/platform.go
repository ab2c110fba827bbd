// Package platform parses, normalizes and compares the platforms images are built and run for
// ("linux/arm64", "linux/arm/v7"), with containerd's rules (github.com/containerd/platforms, the
// library BuildKit and docker use), limited to what hoist can produce: Linux images of an
// architecture the kernel can run natively or through an emulator (see internal/binfmt).
package platform

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Architectures are the GOARCH names hoist accepts for linux images: those Go, the OCI image
// spec and Debian's qemu-user-static all know.
var Architectures = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le",
	"mipsle", "ppc64", "ppc64le", "riscv64", "s390x"}

// Host is the platform hoist runs on: linux/GOARCH, normalized (the variant of arm is the default
// containerd assumes for GOARM-less builds, none for the others).
func Host() v1.Platform {
	return FromSpec(platforms.Normalize(specs.Platform{OS: "linux", Architecture: runtime.GOARCH}))
}

// Parse parses one platform ("linux/arm64", "arm64", "linux/arm/v7") and normalizes it as BuildKit
// does (aarch64 → arm64, arm64/v8 → arm64, arm → arm/v7). Only Linux and the Architectures are
// accepted; anything else is an error naming the value.
func Parse(s string) (v1.Platform, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return v1.Platform{}, fmt.Errorf("empty platform")
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return v1.Platform{}, fmt.Errorf("invalid platform %q: want os/arch[/variant], e.g. linux/arm64", s)
	}
	p = platforms.Normalize(p)
	if p.OS != "linux" {
		return v1.Platform{}, fmt.Errorf("unsupported platform %q: hoist builds and runs only linux images", s)
	}
	if !slices.Contains(Architectures, p.Architecture) {
		return v1.Platform{}, fmt.Errorf("unknown platform %q: architecture %q is not one of %s", s, p.Architecture, strings.Join(Architectures, ", "))
	}
	return FromSpec(p), nil
}

// ParseList parses a comma-separated list (--platform linux/amd64,linux/arm64). Duplicates (after
// normalization) are an error, as BuildKit refuses them.
func ParseList(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, f := range strings.Split(s, ",") {
		p, err := Parse(f)
		if err != nil {
			return nil, err
		}
		for _, q := range out {
			if Format(q) == Format(p) {
				return nil, fmt.Errorf("platform %s given twice", Format(p))
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// Format is "os/arch[/variant]".
func Format(p v1.Platform) string { return platforms.FormatAll(ToSpec(p)) }

// Normalize applies containerd's normalization (as Parse does) to a platform read from an image.
func Normalize(p v1.Platform) v1.Platform { return FromSpec(platforms.Normalize(ToSpec(p))) }

// Match reports whether an image of platform have serves a request for want: the same OS and
// architecture, and the same variant when want names one (an image without a variant serves the
// default one, as containerd's matcher decides).
func Match(want, have v1.Platform) bool {
	return platforms.OnlyStrict(ToSpec(want)).Match(platforms.Normalize(ToSpec(have)))
}

// ToSpec converts to the OCI image-spec type containerd's library works on.
func ToSpec(p v1.Platform) specs.Platform {
	return specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion,
		OSFeatures: p.OSFeatures}
}

// FromSpec converts from the OCI image-spec type.
func FromSpec(p specs.Platform) v1.Platform {
	return v1.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant, OSVersion: p.OSVersion,
		OSFeatures: p.OSFeatures}
}
