package seccomp

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Program is a compiled filter. It is immutable (DefaultProgram hands the
// same one to every caller) and survives a JSON round trip, so a parent
// can compile it once and send it to a re-executed init.
type Program struct {
	insns []bpf.RawInstruction
	flags uint // SECCOMP_FILTER_FLAG_* for seccomp(2)
}

// Len returns the number of BPF instructions.
func (p *Program) Len() int { return len(p.insns) }

// Instructions returns the program disassembled, for debugging and tests.
func (p *Program) Instructions() []bpf.Instruction {
	out, _ := bpf.Disassemble(p.insns)
	return out
}

// programJSON is the wire form: the instructions as struct sock_filter
// bytes (8 per instruction, little endian), base64 in JSON.
type programJSON struct {
	BPF   []byte `json:"bpf"`
	Flags uint   `json:"flags,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (p *Program) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 8*len(p.insns))
	for _, in := range p.insns {
		b = binary.LittleEndian.AppendUint16(b, in.Op)
		b = append(b, in.Jt, in.Jf)
		b = binary.LittleEndian.AppendUint32(b, in.K)
	}
	return json.Marshal(programJSON{BPF: b, Flags: p.flags})
}

// UnmarshalJSON implements json.Unmarshaler. It checks the shape only;
// the kernel checks the program when Install loads it.
func (p *Program) UnmarshalJSON(data []byte) error {
	var w programJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("decode seccomp program: %w", err)
	}
	if len(w.BPF) == 0 || len(w.BPF)%8 != 0 || len(w.BPF)/8 > maxInsns {
		return fmt.Errorf("decode seccomp program: %d bytes is not 1 to %d instructions of 8 bytes", len(w.BPF), maxInsns)
	}
	if w.Flags&^(unix.SECCOMP_FILTER_FLAG_LOG|unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW) != 0 {
		return fmt.Errorf("decode seccomp program: unsupported flags %#x", w.Flags)
	}
	insns := make([]bpf.RawInstruction, len(w.BPF)/8)
	for i := range insns {
		b := w.BPF[8*i:]
		insns[i] = bpf.RawInstruction{
			Op: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3],
			K: binary.LittleEndian.Uint32(b[4:]),
		}
	}
	p.insns, p.flags = insns, w.Flags
	return nil
}

// Install loads p on the calling OS thread only (no TSYNC) with
// seccomp(SECCOMP_SET_MODE_FILTER): lock the goroutine to its thread
// first, and exec from that thread. The caller must have no_new_privs set
// or CAP_SYS_ADMIN. Filters stack: installing twice applies both.
func (p *Program) Install() error {
	if p == nil || len(p.insns) == 0 {
		return errors.New("install seccomp filter: empty program")
	}
	filter := make([]unix.SockFilter, len(p.insns))
	for i, in := range p.insns {
		filter[i] = unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		uintptr(p.flags), uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(filter)
	if errno != 0 {
		err := fmt.Errorf("install seccomp filter: %w", &os.SyscallError{Syscall: "seccomp", Err: errno})
		if errno == unix.EACCES {
			err = fmt.Errorf("%w (set no_new_privs or hold CAP_SYS_ADMIN first)", err)
		}
		return err
	}
	return nil
}
