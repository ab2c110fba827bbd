// Package binfmt tells whether this machine can execute programs of a platform: natively, or
// through an emulator registered with the kernel's binfmt_misc (Debian's qemu-user-static with
// binfmt-support; tonistiigi/binfmt registers the same handlers).
//
// Detection reads the handlers in the binfmt_misc mount and matches each enabled one against an ELF
// header of the platform, as the kernel does when it executes a file (magic & mask at offset). So it
// recognises a handler whatever its name. Only handlers registered with the F (fix binary) flag count:
// the kernel opens their interpreter when they are registered, so they work inside a container whose
// root has no qemu; without F the interpreter would be looked up inside the container's root and
// exec would fail there.
//
// BuildKit checks emulation by running a small program of each architecture (util/archutil); hoist
// reads the registrations instead, so it needs no embedded binaries. The cost: a handler that is
// registered but broken is reported as working, and the error then comes from the first exec.
package binfmt

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultDir is where binfmt_misc is mounted.
const DefaultDir = "/proc/sys/fs/binfmt_misc"

// Package is what to install on Debian for emulators (named in errors).
const Package = "qemu-user-static"

// Support says how a platform's programs run here.
type Support int

const (
	// Unsupported: no way to run them (no emulator registered).
	Unsupported Support = iota
	// Native: the kernel runs them itself (the host's architecture; 386 on amd64).
	Native
	// Emulated: through a binfmt_misc handler with the F flag.
	Emulated
)

func (s Support) String() string {
	switch s {
	case Native:
		return "native"
	case Emulated:
		return "emulated"
	}
	return "unsupported"
}

// Handler is one enabled binfmt_misc registration.
type Handler struct {
	Name        string // the entry's name ("qemu-aarch64")
	Interpreter string
	Flags       string
	Offset      int
	Magic, Mask []byte
}

// FixBinary reports whether the handler has the F flag (usable inside containers).
func (h Handler) FixBinary() bool { return strings.Contains(h.Flags, "F") }

// Platform is the linux platform whose executables the handler runs (the first architecture, in
// name order, whose ELF header it matches), and false for a handler of something else (a script
// interpreter, an architecture hoist does not know).
func (h Handler) Platform() (v1.Platform, bool) {
	arches := make([]string, 0, len(elfIDs))
	for a := range elfIDs {
		arches = append(arches, a)
	}
	sort.Strings(arches)
	for _, a := range arches {
		if hdr, _ := elfHeader(a); h.matches(hdr) {
			return v1.Platform{OS: "linux", Architecture: a}, true
		}
	}
	return v1.Platform{}, false
}

func (h Handler) matches(header []byte) bool {
	if h.Offset+len(h.Magic) > len(header) {
		return false
	}
	for i, m := range h.Magic {
		b := header[h.Offset+i]
		if i < len(h.Mask) {
			b &= h.Mask[i]
		}
		if b != m {
			return false
		}
	}
	return true
}

// Checker reads one binfmt_misc mount. The zero value reads DefaultDir. Safe for concurrent use; it
// reads the registrations on every call (they can change at any time).
type Checker struct {
	// Dir is the binfmt_misc mount ("" = DefaultDir).
	Dir string
	// Arch is the host's GOARCH ("" = runtime.GOARCH).
	Arch string
}

func (c Checker) dir() string {
	if c.Dir == "" {
		return DefaultDir
	}
	return c.Dir
}

func (c Checker) arch() string {
	if c.Arch == "" {
		return runtime.GOARCH
	}
	return c.Arch
}

// Handlers lists the enabled registrations. An unmounted binfmt_misc or one that is globally disabled
// gives none and no error.
func (c Checker) Handlers() ([]Handler, error) {
	status, err := os.ReadFile(filepath.Join(c.dir(), "status"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading binfmt_misc: %w", err)
	}
	if strings.TrimSpace(string(status)) != "enabled" {
		return nil, nil
	}
	entries, err := os.ReadDir(c.dir())
	if err != nil {
		return nil, fmt.Errorf("reading binfmt_misc: %w", err)
	}
	var out []Handler
	for _, e := range entries {
		if e.Name() == "status" || e.Name() == "register" || e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(c.dir(), e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		if h, ok := parseEntry(e.Name(), string(data)); ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// parseEntry parses an entry file ("enabled\ninterpreter ...\nflags: PF\noffset 0\nmagic ...\nmask ...");
// disabled entries and extension (E) handlers are not reported.
func parseEntry(name, data string) (Handler, bool) {
	h := Handler{Name: name}
	enabled := false
	for _, line := range strings.Split(data, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "enabled":
			enabled = true
		case "interpreter":
			h.Interpreter = v
		case "flags:":
			h.Flags = v
		case "offset":
			h.Offset, _ = strconv.Atoi(v)
		case "magic":
			h.Magic, _ = hex.DecodeString(v)
		case "mask":
			h.Mask, _ = hex.DecodeString(v)
		}
	}
	return h, enabled && len(h.Magic) > 0
}

// elfID is what identifies an architecture's executables: ELF class, byte order and machine.
type elfID struct {
	class   byte // 1: 32-bit, 2: 64-bit
	big     bool
	machine uint16
}

var elfIDs = map[string]elfID{
	"386":      {1, false, 3},
	"amd64":    {2, false, 62},
	"arm":      {1, false, 40},
	"arm64":    {2, false, 183},
	"loong64":  {2, false, 258},
	"mips":     {1, true, 8},
	"mipsle":   {1, false, 8},
	"mips64":   {2, true, 8},
	"mips64le": {2, false, 8},
	"ppc64":    {2, true, 21},
	"ppc64le":  {2, false, 21},
	"riscv64":  {2, false, 243},
	"s390x":    {2, true, 22},
}

// elfHeader is the start of a static executable of arch (e_ident, e_type ET_EXEC, e_machine,
// e_version), the bytes binfmt_misc handlers for ELF match.
func elfHeader(arch string) ([]byte, bool) {
	id, ok := elfIDs[arch]
	if !ok {
		return nil, false
	}
	hdr := make([]byte, 64)
	copy(hdr, "\x7fELF")
	hdr[4], hdr[5], hdr[6] = id.class, 1, 1
	var order binary.ByteOrder = binary.LittleEndian
	if id.big {
		hdr[5] = 2
		order = binary.BigEndian
	}
	order.PutUint16(hdr[16:], 2) // ET_EXEC
	order.PutUint16(hdr[18:], id.machine)
	order.PutUint32(hdr[20:], 1) // EV_CURRENT
	return hdr, true
}

// native reports whether the kernel runs arch's programs itself.
func (c Checker) native(arch string) bool {
	host := c.arch()
	return arch == host || (host == "amd64" && arch == "386")
}

// Check says how programs of p run here. For an emulated platform it also returns the handler.
func (c Checker) Check(p v1.Platform) (Support, *Handler, error) {
	if p.OS != "linux" {
		return Unsupported, nil, nil
	}
	if c.native(p.Architecture) {
		return Native, nil, nil
	}
	hdr, ok := elfHeader(p.Architecture)
	if !ok {
		return Unsupported, nil, nil
	}
	hs, err := c.Handlers()
	if err != nil {
		return Unsupported, nil, err
	}
	var noFix *Handler
	for i := range hs {
		if !hs[i].matches(hdr) {
			continue
		}
		if hs[i].FixBinary() {
			return Emulated, &hs[i], nil
		}
		noFix = &hs[i]
	}
	return Unsupported, noFix, nil
}

// Require returns nil when programs of p can run here, else a *MissingError.
func (c Checker) Require(p v1.Platform) error {
	s, h, err := c.Check(p)
	if err != nil {
		return err
	}
	if s != Unsupported {
		return nil
	}
	return &MissingError{Platform: p, NoFixBinary: h}
}

// Platforms lists the linux platforms ("linux/arm64") whose programs run here, natively or emulated,
// sorted: what `hoist info` reports.
func (c Checker) Platforms() ([]string, error) {
	var out []string
	for arch := range elfIDs {
		s, _, err := c.Check(v1.Platform{OS: "linux", Architecture: arch})
		if err != nil {
			return nil, err
		}
		if s != Unsupported {
			out = append(out, "linux/"+arch)
		}
	}
	sort.Strings(out)
	return out, nil
}

// MissingError says a platform's programs cannot run here.
type MissingError struct {
	Platform v1.Platform
	// NoFixBinary is a matching handler registered without the F flag, if there is one.
	NoFixBinary *Handler
}

func (e *MissingError) Error() string {
	p := e.Platform.OS + "/" + e.Platform.Architecture
	if e.Platform.Variant != "" {
		p += "/" + e.Platform.Variant
	}
	if h := e.NoFixBinary; h != nil {
		return fmt.Sprintf("cannot run programs for %s: its binfmt_misc emulator %s (%s) is registered without the F (fix binary) flag, so containers cannot use it; register it with F (Debian's %s does)", p, h.Name, h.Interpreter, Package)
	}
	return fmt.Sprintf("cannot run programs for %s: no emulator is registered for it in binfmt_misc (install Debian's %s and binfmt-support; binfmt_misc must be mounted: mount -t binfmt_misc binfmt_misc %s)", p, Package, DefaultDir)
}

var _ error = (*MissingError)(nil)
