package cgroups

import (
	"fmt"
	"os"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// On cgroup v2 the kernel asks the BPF_PROG_TYPE_CGROUP_DEVICE programs
// attached to a cgroup (and to its ancestors) before a process in it opens or
// makes a device node; the access is refused (EPERM) unless every program
// returns 1. A program sees a struct bpf_cgroup_dev_ctx
// (include/uapi/linux/bpf.h):
//
//	u32 access_type  // low 16 bits: BPF_DEVCG_DEV_BLOCK or _CHAR; high 16: BPF_DEVCG_ACC_* bits
//	u32 major
//	u32 minor
//
// The program compiled here is the deviceSet of the rules: one block per
// exception, each either returning the exception's verdict or falling through
// to the next, and a last block returning the default.

// Registers of the device filter program.
const (
	regCtx    = asm.R1 // the bpf_cgroup_dev_ctx; free once the fields are loaded
	regType   = asm.R2
	regAccess = asm.R3
	regMajor  = asm.R4
	regMinor  = asm.R5
	regTmp    = asm.R1
)

// compileDeviceFilter returns the device program that enforces s.
func compileDeviceFilter(s deviceSet) asm.Instructions {
	insts := asm.Instructions{
		asm.LoadMem(regType, regCtx, 0, asm.Word),
		asm.Mov.Reg32(regAccess, regType),
		asm.And.Imm32(regType, 0xffff),
		asm.RSh.Imm32(regAccess, 16),
		asm.LoadMem(regMajor, regCtx, 4, asm.Word),
		asm.LoadMem(regMinor, regCtx, 8, asm.Word),
	}
	for i, e := range s.exceptions {
		insts = append(insts, exceptionBlock(e, s.allow, blockLabel(i), blockLabel(i+1))...)
	}
	return append(insts,
		verdict(s.allow).WithSymbol(blockLabel(len(s.exceptions))),
		asm.Return(),
	)
}

func blockLabel(i int) string { return "exception_" + strconv.Itoa(i) }

// verdict sets the program's return value.
func verdict(allow bool) asm.Instruction {
	if allow {
		return asm.Mov.Imm32(asm.R0, 1)
	}
	return asm.Mov.Imm32(asm.R0, 0)
}

// exceptionBlock returns the instructions, labelled label, that return e's
// verdict when the access matches e and jump to next otherwise. An exception
// to "deny" (an allow) matches only an access all of whose bits it allows, as
// in the kernel's match_exception; an exception to "allow" (a deny) matches an
// access sharing any bit with it (match_exception_partial).
func exceptionBlock(e DeviceRule, defaultAllow bool, label, next string) asm.Instructions {
	devType := int32(unix.BPF_DEVCG_DEV_CHAR)
	if e.Type == 'b' {
		devType = unix.BPF_DEVCG_DEV_BLOCK
	}
	insts := asm.Instructions{asm.JNE.Imm(regType, devType, next).WithSymbol(label)}
	if bits := accessBits(e.Access); bits != accessAll {
		if defaultAllow {
			// Falls through when access & bits != 0.
			insts = append(insts,
				asm.Mov.Reg32(regTmp, regAccess),
				asm.And.Imm32(regTmp, bits),
				asm.JEq.Imm(regTmp, 0, next),
			)
		} else {
			// Falls through when access has no bit outside bits.
			insts = append(insts, asm.JSet.Imm(regAccess, accessAll&^bits, next))
		}
	}
	if e.Major >= 0 {
		insts = append(insts, asm.JNE.Imm(regMajor, int32(e.Major), next))
	}
	if e.Minor >= 0 {
		insts = append(insts, asm.JNE.Imm(regMinor, int32(e.Minor), next))
	}
	return append(insts, verdict(!defaultAllow), asm.Return())
}

// attachDeviceFilter compiles rules (validated) and attaches the program to
// the cgroup v2 directory dir with BPF_PROG_ATTACH. The attachment holds its
// own reference to the program: it outlives this process's descriptors and
// goes away with the cgroup. Programs already attached to dir (none on a
// cgroup Create made) stay: BPF_F_ALLOW_MULTI runs them all and an access
// needs every one's consent, so attaching can only narrow what is allowed,
// and a nested runtime can attach its own programs below dir.
//
// The program needs kernel 4.15; kernels before 5.11 charge it to
// RLIMIT_MEMLOCK, which its size (a few hundred bytes) fits in.
func attachDeviceFilter(dir string, rules []DeviceRule) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "hoist_devices",
		Type:         ebpf.CGroupDevice,
		License:      "Apache-2.0",
		Instructions: compileDeviceFilter(newDeviceSet(rules)),
	})
	if err != nil {
		return fmt.Errorf("loading the device program of cgroup %s: %w", dir, err)
	}
	defer prog.Close()
	f, err := os.OpenFile(dir, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	defer f.Close()
	err = link.RawAttachProgram(link.RawAttachProgramOptions{
		Target:  int(f.Fd()),
		Program: prog,
		Attach:  ebpf.AttachCGroupDevice,
		Flags:   unix.BPF_F_ALLOW_MULTI,
	})
	if err != nil {
		return fmt.Errorf("attaching the device program to cgroup %s: %w", dir, err)
	}
	return nil
}
