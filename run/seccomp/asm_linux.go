package seccomp

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// maxInsns is the kernel's limit on a classic BPF program (BPF_MAXINSNS).
const maxInsns = 4096

// label names a position in the program; jumps refer to labels and are
// resolved to offsets by assemble.
type label int

type nodeKind uint8

const (
	nodeInsn   nodeKind = iota // a non-jump instruction
	nodeJumpIf                 // conditional jump to t (condition true) or f
	nodeJump                   // unconditional jump to t
	nodeLabel                  // marks the position of label l
)

type node struct {
	kind nodeKind
	insn bpf.Instruction
	cond bpf.JumpTest // only JumpEqual, JumpGreaterThan, JumpGreaterOrEqual, JumpBitsSet
	k    uint32
	t, f label
}

// asm collects a program with symbolic, forward-only jumps. A classic BPF
// conditional jump can skip at most 255 instructions; assemble turns a
// longer one into a short jump to an inserted unconditional jump (whose
// offset is 32 bits), so callers never deal with offsets.
type asm struct {
	nodes  []node
	labels int
}

func (a *asm) newLabel() label {
	a.labels++
	return label(a.labels)
}

// mark places l before the next instruction.
func (a *asm) mark(l label) { a.nodes = append(a.nodes, node{kind: nodeLabel, t: l}) }

func (a *asm) emit(i bpf.Instruction) { a.nodes = append(a.nodes, node{kind: nodeInsn, insn: i}) }

// jumpIf jumps to t when cond(A, k) holds, else to f.
func (a *asm) jumpIf(cond bpf.JumpTest, k uint32, t, f label) {
	if t == f {
		a.jump(t)
		return
	}
	a.nodes = append(a.nodes, node{kind: nodeJumpIf, cond: cond, k: k, t: t, f: f})
}

func (a *asm) jump(t label) { a.nodes = append(a.nodes, node{kind: nodeJump, t: t}) }

// far bits of a conditional jump: its target needs a trampoline.
const (
	farTrue uint8 = 1 << iota
	farFalse
)

// assemble resolves labels to offsets. It fails on a backward jump, an
// unmarked label or a program longer than the kernel accepts.
func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	far := make([]uint8, len(a.nodes))
	pos := make([]int, len(a.nodes))    // instruction index of each node
	at := make(map[label]int, a.labels) // instruction index of each label
	n := 0
	// Trampolines only ever get added, so this reaches a fixed point.
	for changed := true; changed; {
		n = 0
		for i, nd := range a.nodes {
			pos[i] = n
			switch nd.kind {
			case nodeLabel:
				at[nd.t] = n
			case nodeJumpIf:
				n += 1 + popcount(far[i])
			default:
				n++
			}
		}
		changed = false
		for i, nd := range a.nodes {
			if nd.kind != nodeJumpIf {
				continue
			}
			for _, b := range []struct {
				l   label
				bit uint8
			}{{nd.t, farTrue}, {nd.f, farFalse}} {
				dst, ok := at[b.l]
				if !ok {
					return nil, fmt.Errorf("internal error: label %d is never placed", b.l)
				}
				if far[i]&b.bit == 0 && dst-(pos[i]+1) > 255 {
					far[i] |= b.bit
					changed = true
				}
			}
		}
	}
	if n > maxInsns {
		return nil, fmt.Errorf("program has %d instructions, the kernel accepts at most %d", n, maxInsns)
	}
	prog := make([]bpf.Instruction, 0, n)
	skip := func(from int, l label) (int, error) {
		d := at[l] - (from + 1)
		if d < 0 {
			return 0, errors.New("internal error: backward jump")
		}
		return d, nil
	}
	for i, nd := range a.nodes {
		switch nd.kind {
		case nodeInsn:
			prog = append(prog, nd.insn)
		case nodeJump:
			d, err := skip(pos[i], nd.t)
			if err != nil {
				return nil, err
			}
			prog = append(prog, bpf.Jump{Skip: uint32(d)})
		case nodeJumpIf:
			j := bpf.JumpIf{Cond: nd.cond, Val: nd.k}
			var tramps []label
			for _, b := range []struct {
				l    label
				bit  uint8
				skip *uint8
			}{{nd.t, farTrue, &j.SkipTrue}, {nd.f, farFalse, &j.SkipFalse}} {
				if far[i]&b.bit != 0 {
					*b.skip = uint8(len(tramps)) // to the trampoline right after
					tramps = append(tramps, b.l)
					continue
				}
				d, err := skip(pos[i], b.l)
				if err != nil {
					return nil, err
				}
				*b.skip = uint8(d)
			}
			prog = append(prog, j)
			for k, l := range tramps {
				d, err := skip(pos[i]+1+k, l)
				if err != nil {
					return nil, err
				}
				prog = append(prog, bpf.Jump{Skip: uint32(d)})
			}
		}
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble bpf: %w", err)
	}
	return raw, nil
}

func popcount(b uint8) int {
	n := 0
	for ; b != 0; b &= b - 1 {
		n++
	}
	return n
}
