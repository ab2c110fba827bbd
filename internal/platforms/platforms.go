// Package platforms says which platforms (os/arch/variant) this host can run: its own, and those
// the kernel runs through binfmt_misc emulators (qemu-user and the like). The builder uses it to
// decide whether a RUN step of a foreign --platform can run; `hoist info` prints it.
package platforms

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// BinfmtDir is where the kernel's binfmt_misc filesystem is mounted.
const BinfmtDir = "/proc/sys/fs/binfmt_misc"

// Platform is an OCI platform, as "linux/arm64" or "linux/arm/v7".
type Platform struct {
	OS, Architecture, Variant string
}

func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Native is the platform of this hoist binary.
func Native() Platform {
	p := Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	if p.Architecture == "arm" {
		p.Variant = "v7"
	}
	return p
}

// Emulator is one enabled binfmt_misc entry for ELF binaries of another architecture.
type Emulator struct {
	Name        string // the entry's name (qemu-aarch64)
	Platform    Platform
	Interpreter string // the program the kernel runs them with
	// Flags are the entry's flags; with F (fix binary) the kernel opened the interpreter when the
	// entry was registered, so it also works inside a container's root, which does not have it.
	Flags string
}

// FixBinary reports whether the interpreter is preloaded (flag F): only then do containers and RUN
// steps, which pivot into an image's root, find it.
func (e Emulator) FixBinary() bool { return strings.Contains(e.Flags, "F") }

// Emulators reads the enabled ELF entries of the binfmt_misc filesystem at dir ([BinfmtDir]),
// sorted by name. A dir that does not exist (binfmt_misc not mounted) or that is disabled as a
// whole gives none.
func Emulators(dir string) ([]Emulator, error) {
	if b, err := os.ReadFile(filepath.Join(dir, "status")); err != nil || strings.TrimSpace(string(b)) != "enabled" {
		if err != nil && !os.IsNotExist(err) {
			return nil, fmt.Errorf("binfmt_misc: %w", err)
		}
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("binfmt_misc: %w", err)
	}
	var out []Emulator
	for _, e := range ents {
		if e.Name() == "register" || e.Name() == "status" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		if em, ok := parseEntry(e.Name(), string(b)); ok {
			out = append(out, em)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// parseEntry reads one entry file (the kernel's format: "enabled", "interpreter PATH", "flags: F",
// "offset 0", "magic 7f454c46...", "mask ..."); only enabled ELF magic entries count.
func parseEntry(name, text string) (Emulator, bool) {
	e := Emulator{Name: name}
	enabled := false
	var magic, mask []byte
	for _, line := range strings.Split(text, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "enabled":
			enabled = true
		case "interpreter":
			e.Interpreter = v
		case "flags:":
			e.Flags = v
		case "offset":
			if v != "0" {
				return e, false
			}
		case "magic":
			magic, _ = hex.DecodeString(v)
		case "mask":
			mask, _ = hex.DecodeString(v)
		}
	}
	if !enabled || len(magic) < 20 || string(magic[:4]) != "\x7fELF" {
		return e, false
	}
	if len(mask) >= 20 {
		for i := range magic[:20] {
			magic[i] &= mask[i]
		}
	}
	p, ok := elfPlatform(magic[4], magic[5], uint16(magic[18])|uint16(magic[19])<<8)
	if !ok {
		return e, false
	}
	e.Platform = p
	return e, true
}

// elfPlatform maps an ELF header's class (1: 32-bit, 2: 64-bit), data encoding (1: little, 2: big
// endian) and e_machine to a Go/OCI platform.
func elfPlatform(class, data byte, machineLE uint16) (Platform, bool) {
	machine := machineLE
	if data == 2 { // big endian: e_machine is stored high byte first
		machine = machineLE>>8 | machineLE<<8
	}
	arch := ""
	switch {
	case machine == 0x3e && class == 2:
		arch = "amd64"
	case machine == 0x03 && class == 1:
		arch = "386"
	case machine == 0xb7 && class == 2:
		arch = "arm64"
	case machine == 0x28 && class == 1 && data == 1:
		return Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, true
	case machine == 0xf3 && class == 2:
		arch = "riscv64"
	case machine == 0x15 && class == 2 && data == 1:
		arch = "ppc64le"
	case machine == 0x15 && class == 2:
		arch = "ppc64"
	case machine == 0x16 && class == 2:
		arch = "s390x"
	case machine == 0x102 && class == 2:
		arch = "loong64"
	case machine == 0x08 && class == 2 && data == 1:
		arch = "mips64le"
	case machine == 0x08 && class == 2:
		arch = "mips64"
	default:
		return Platform{}, false
	}
	return Platform{OS: "linux", Architecture: arch}, true
}

// Runnable is what this host can run: the native platform first, then every platform an enabled
// binfmt_misc entry with a preloaded interpreter (flag F) emulates, once each. Entries without F
// are left out: their interpreter path would be looked up inside the container's root.
func Runnable(dir string) ([]Platform, error) {
	out := []Platform{Native()}
	ems, err := Emulators(dir)
	if err != nil {
		return out, err
	}
	seen := map[Platform]bool{out[0]: true}
	for _, e := range ems {
		if e.FixBinary() && !seen[e.Platform] {
			seen[e.Platform] = true
			out = append(out, e.Platform)
		}
	}
	return out, nil
}
