package seccomp

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// x32Bit is set on the syscall number of an x32 process; its syscalls
// report AUDIT_ARCH_X86_64 like native ones (__X32_SYSCALL_BIT).
const x32Bit = 0x40000000

// abi is one syscall table the filter covers: the kernel reports its
// calls with the audit arch audit and numbers in [base, limit].
type abi struct {
	name        specs.Arch
	audit       uint32
	base, limit uint32
	nums        func() map[string][]uint32 // name -> numbers (base included)
}

// knownArches is every architecture name the runtime spec defines; a
// profile may list any of them, only those of this machine matter.
var knownArches = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true,
	specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true,
	specs.ArchLOONGARCH64: true, specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}

//go:generate go run ./internal/gentables

// sysEntry is one syscall of a table: its number (without the ABI's base)
// and name.
type sysEntry struct {
	nr   uint32
	name string
}

// Syscall tables: generated (zsyscalls_linux.go) from go-seccomp-bpf's
// arch package, itself generated from Linux's syscall tables, as static
// data. x32 has names with two numbers (rt_sigaction is 13 and 512): every
// number is kept.
var (
	abiX86_64 = newABI(specs.ArchX86_64, auditX86_64, syscallsX86_64, 0, x32Bit-1)
	abiX32    = newABI(specs.ArchX32, auditX32, syscallsX32, x32Bit, 0xffffffff)
	abiX86    = newABI(specs.ArchX86, auditI386, syscallsI386, 0, 0xffffffff)
	abiARM64  = newABI(specs.ArchAARCH64, auditAARCH64, syscallsAARCH64, 0, 0xffffffff)
	abiARM    = newABI(specs.ArchARM, auditARM, syscallsARM, 0, 0xffffffff)
)

func newABI(name specs.Arch, audit uint32, table []sysEntry, base, limit uint32) *abi {
	return &abi{
		name: name, audit: audit, base: base, limit: limit,
		nums: sync.OnceValue(func() map[string][]uint32 {
			m := make(map[string][]uint32, len(table))
			for _, e := range table {
				m[e.name] = append(m[e.name], base+e.nr)
			}
			for _, v := range m {
				sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
			}
			return m
		}),
	}
}

// nativeABIs maps GOARCH to its own table followed by the compat tables
// a profile may add for it (what docker's archMap lists as
// subArchitectures and this kernel can run).
var nativeABIs = map[string][]*abi{
	"amd64": {abiX86_64, abiX86, abiX32},
	"386":   {abiX86},
	"arm64": {abiARM64, abiARM},
	"arm":   {abiARM},
}

// selectABIs returns the tables cfg's filter covers on this machine: the
// native one always (libseccomp always includes it), compat ones when
// listed. Other known architectures are ignored, as they can never be
// reported by this kernel; an unknown name is an error.
func selectABIs(archs []specs.Arch) ([]*abi, error) {
	all, ok := nativeABIs[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("no syscall table for architecture %s", runtime.GOARCH)
	}
	out := []*abi{all[0]}
	for _, a := range archs {
		if !knownArches[a] {
			return nil, fmt.Errorf("unknown architecture %q", a)
		}
		for _, c := range all[1:] {
			if c.name == a && !containsABI(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

func containsABI(list []*abi, a *abi) bool {
	for _, b := range list {
		if b == a {
			return true
		}
	}
	return false
}
