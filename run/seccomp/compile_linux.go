package seccomp

import (
	"errors"
	"fmt"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Offsets in struct seccomp_data (little endian; every GOARCH with a
// syscall table here is).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// retBadArch answers a call from an ABI the filter does not cover.
// libseccomp's default is SCMP_ACT_KILL (kill the thread); we kill the
// whole process, as a Go process with one thread gone would hang.
const retBadArch = unix.SECCOMP_RET_KILL_PROCESS

var retENOSYS = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)

// rule is one conditional rule of a syscall: all conds hold -> ret.
type rule struct {
	ret   uint32
	conds []specs.LinuxSeccompArg
}

// entry is what the filter does for one syscall number: ret when rules
// is empty, else the first rule that matches, else the default action.
type entry struct {
	ret   uint32
	rules []rule
}

// Compile compiles cfg for the running architecture (runtime.GOARCH)
// plus the compat architectures cfg lists for it (on amd64: x86 (i386)
// and x32). It follows libseccomp as runc drives it:
//   - a syscall of an ABI not in the filter kills the process (x32
//     numbers on x86_64 included, unless cfg lists SCMP_ARCH_X32);
//   - syscall names this architecture does not know are skipped;
//   - a rule whose action is the default action is dropped;
//   - conditions of a rule are ANDed, except that a rule with several
//     conditions on one argument becomes one rule per condition (ORed);
//   - for one syscall the first unconditional rule wins; otherwise
//     conditional rules are tried in profile order (libseccomp refuses
//     or merges overlapping conditional rules with different actions;
//     we take the first match);
//   - unless the default action lets calls through (allow, log, trace),
//     a number above the largest the profile names for an ABI returns
//     ENOSYS, runc's patch so that libc falls back from syscalls newer
//     than the profile.
//
// Syscall numbers come from go-seccomp-bpf's tables (Linux 6.15): a name
// newer than those is skipped, as with an older libseccomp. Each ABI's
// numbers are dispatched by a binary search over ranges with the same
// verdict, so a call costs about log2(ranges) comparisons.
func Compile(cfg *specs.LinuxSeccomp) (*Program, error) {
	if cfg == nil {
		return nil, errors.New("compile seccomp: no profile")
	}
	p, err := compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp: %w", err)
	}
	return p, nil
}

func compile(cfg *specs.LinuxSeccomp) (*Program, error) {
	if err := validate(cfg); err != nil {
		return nil, err
	}
	flags, err := filterFlags(cfg.Flags)
	if err != nil {
		return nil, err
	}
	def, _ := actionRet(cfg.DefaultAction, cfg.DefaultErrnoRet) // validated
	enosys := cfg.DefaultAction != specs.ActAllow && cfg.DefaultAction != specs.ActLog &&
		cfg.DefaultAction != specs.ActTrace
	abis, err := selectABIs(cfg.Architectures)
	if err != nil {
		return nil, err
	}

	// Group the tables by the audit arch the kernel reports for them.
	var audits []uint32
	byAudit := map[uint32][]*abi{}
	for _, a := range abis {
		if byAudit[a.audit] == nil {
			audits = append(audits, a.audit)
		}
		byAudit[a.audit] = append(byAudit[a.audit], a)
	}

	var a asm
	a.emit(bpf.LoadAbsolute{Off: offArch, Size: 4})
	blocks := make([]label, len(audits))
	badArch := a.newLabel()
	for i, au := range audits {
		blocks[i] = a.newLabel()
		next := badArch
		if i < len(audits)-1 {
			next = a.newLabel()
		}
		a.jumpIf(bpf.JumpEqual, au, blocks[i], next)
		if next != badArch {
			a.mark(next)
		}
	}
	a.mark(badArch)
	a.emit(bpf.RetConstant{Val: retBadArch})
	for i, au := range audits {
		a.mark(blocks[i])
		segs := segments(cfg, def, enosys, byAudit[au])
		emitBlock(&a, segs, def)
	}
	insns, err := a.assemble()
	if err != nil {
		return nil, err
	}
	return &Program{insns: insns, flags: flags}, nil
}

// target is where a range of syscall numbers goes: a fixed return, or a
// syscall's conditional rules.
type target struct {
	ret uint32
	e   *entry // non-nil: conditional rules
}

// segment: numbers from start up to the next segment's start go to to.
type segment struct {
	start uint32
	to    target
}

// segments maps the whole 32-bit number space of one audit arch to
// targets, merging neighbours that go to the same place.
func segments(cfg *specs.LinuxSeccomp, def uint32, enosys bool, abis []*abi) []segment {
	sort.Slice(abis, func(i, j int) bool { return abis[i].base < abis[j].base })
	var segs []segment
	add := func(start uint32, to target) {
		if n := len(segs); n > 0 && segs[n-1].start == start {
			segs = segs[:n-1] // a later, narrower target for the same start
		}
		if n := len(segs); n > 0 && segs[n-1].to == to {
			return
		}
		segs = append(segs, segment{start, to})
	}
	var next uint32 // first number not covered yet
	for _, ab := range abis {
		if ab.base > next { // a gap between tables: x32 numbers without x32
			add(next, target{ret: retBadArch})
		}
		entries, largest := resolve(cfg, def, ab)
		nums := make([]uint32, 0, len(entries))
		for nr := range entries {
			nums = append(nums, nr)
		}
		sort.Slice(nums, func(i, j int) bool { return nums[i] < nums[j] })
		add(ab.base, target{ret: def})
		for _, nr := range nums {
			e := entries[nr]
			if len(e.rules) == 0 {
				add(nr, target{ret: e.ret})
			} else {
				add(nr, target{e: e})
			}
			if nr < ab.limit {
				add(nr+1, target{ret: def})
			}
		}
		if enosys && largest != nil && *largest < ab.limit {
			add(*largest+1, target{ret: retENOSYS})
		}
		next = ab.limit + 1
		if ab.limit == 0xffffffff {
			return segs
		}
	}
	add(next, target{ret: retBadArch})
	return segs
}

// resolve returns, for one table, what each syscall named by cfg does
// (numbers whose rules all carry the default action are absent) and the
// largest number cfg names (nil when it names none this table knows).
func resolve(cfg *specs.LinuxSeccomp, def uint32, ab *abi) (map[uint32]*entry, *uint32) {
	table := ab.nums()
	entries := map[uint32]*entry{}
	var largest *uint32
	for _, sc := range cfg.Syscalls {
		ret, _ := actionRet(sc.Action, sc.ErrnoRet) // validated
		rules := splitRules(ret, sc.Args)
		for _, name := range sc.Names {
			for _, nr := range table[name] {
				if largest == nil || nr > *largest {
					v := nr
					largest = &v
				}
				if ret == def {
					continue // runc skips rules that repeat the default
				}
				e := entries[nr]
				switch {
				case e == nil:
					entries[nr] = &entry{ret: ret, rules: rules}
				case len(e.rules) == 0:
					// an unconditional rule came first and wins
				case len(rules) == 0:
					e.ret, e.rules = ret, nil
				default:
					e.rules = append(e.rules[:len(e.rules):len(e.rules)], rules...)
				}
			}
		}
	}
	return entries, largest
}

// splitRules is runc's reading of one profile rule: no conditions, one
// ANDed rule, or (when an argument index repeats) one rule per condition.
func splitRules(ret uint32, args []specs.LinuxSeccompArg) []rule {
	if len(args) == 0 {
		return nil
	}
	seen := map[uint]bool{}
	repeat := false
	for _, c := range args {
		repeat = repeat || seen[c.Index]
		seen[c.Index] = true
	}
	if !repeat {
		return []rule{{ret: ret, conds: args}}
	}
	out := make([]rule, len(args))
	for i, c := range args {
		out[i] = rule{ret: ret, conds: []specs.LinuxSeccompArg{c}}
	}
	return out
}

// emitBlock emits one audit arch's code: load the number, a binary
// search over the segments, the returns it jumps to (close, so that the
// jumps stay short), then each conditional body with its own returns.
func emitBlock(a *asm, segs []segment, def uint32) {
	var bodies []*entry
	bodyLabels := map[string]label{} // same rules (x86_64 and x32): one body
	rets := newRets(a)
	labelOf := func(t target) label {
		if t.e == nil {
			return rets.label(t.ret)
		}
		key := fmt.Sprint(t.e.rules)
		l, ok := bodyLabels[key]
		if !ok {
			l = a.newLabel()
			bodyLabels[key] = l
			bodies = append(bodies, t.e)
		}
		return l
	}

	a.emit(bpf.LoadAbsolute{Off: offNr, Size: 4})
	// Pre-order: a node, then its lower half, then its upper half, so
	// every jump goes forward.
	var tree func(segs []segment, at label)
	tree = func(segs []segment, at label) {
		a.mark(at)
		mid := len(segs) / 2
		lo, hi := segs[:mid], segs[mid:]
		sub := func(s []segment) label {
			if len(s) == 1 {
				return labelOf(s[0].to)
			}
			return a.newLabel()
		}
		hl, ll := sub(hi), sub(lo)
		a.jumpIf(bpf.JumpGreaterOrEqual, hi[0].start, hl, ll)
		if len(lo) > 1 {
			tree(lo, ll)
		}
		if len(hi) > 1 {
			tree(hi, hl)
		}
	}
	if len(segs) == 1 {
		a.jump(labelOf(segs[0].to))
	} else {
		tree(segs, a.newLabel())
	}
	rets.emit()

	for _, e := range bodies {
		a.mark(bodyLabels[fmt.Sprint(e.rules)])
		rets := newRets(a)
		for i, r := range e.rules {
			next := rets.label(def)
			if i < len(e.rules)-1 {
				next = a.newLabel()
			}
			for j, c := range r.conds {
				ok := rets.label(r.ret)
				if j < len(r.conds)-1 {
					ok = a.newLabel()
				}
				emitCond(a, c, ok, next)
				if j < len(r.conds)-1 {
					a.mark(ok)
				}
			}
			if i < len(e.rules)-1 {
				a.mark(next)
			}
		}
		rets.emit()
	}
}

// retSet hands out one label per return value and emits the returns.
type retSet struct {
	a      *asm
	labels map[uint32]label
	order  []uint32
}

func newRets(a *asm) *retSet { return &retSet{a: a, labels: map[uint32]label{}} }

func (r *retSet) label(v uint32) label {
	l, ok := r.labels[v]
	if !ok {
		l = r.a.newLabel()
		r.labels[v] = l
		r.order = append(r.order, v)
	}
	return l
}

func (r *retSet) emit() {
	for _, v := range r.order {
		r.a.mark(r.labels[v])
		r.a.emit(bpf.RetConstant{Val: v})
	}
}

// emitCond jumps to t when the 64-bit argument c.Index satisfies c, else
// to f: the high halves decide unless they are equal, then the low ones.
func emitCond(a *asm, c specs.LinuxSeccompArg, t, f label) {
	off := offArgs + 8*uint32(c.Index)
	ldLo := bpf.LoadAbsolute{Off: off, Size: 4}
	ldHi := bpf.LoadAbsolute{Off: off + 4, Size: 4}
	vHi, vLo := uint32(c.Value>>32), uint32(c.Value)
	lo := a.newLabel()
	a.emit(ldHi)
	switch c.Op {
	case specs.OpEqualTo:
		a.jumpIf(bpf.JumpEqual, vHi, lo, f)
		a.mark(lo)
		a.emit(ldLo)
		a.jumpIf(bpf.JumpEqual, vLo, t, f)
	case specs.OpNotEqual:
		a.jumpIf(bpf.JumpEqual, vHi, lo, t)
		a.mark(lo)
		a.emit(ldLo)
		a.jumpIf(bpf.JumpEqual, vLo, f, t)
	case specs.OpMaskedEqual: // (arg & Value) == ValueTwo
		wHi, wLo := uint32(c.ValueTwo>>32), uint32(c.ValueTwo)
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vHi})
		a.jumpIf(bpf.JumpEqual, wHi, lo, f)
		a.mark(lo)
		a.emit(ldLo)
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vLo})
		a.jumpIf(bpf.JumpEqual, wLo, t, f)
	default: // the orderings; validate rejected anything else
		above, below := t, f // where hi > vHi and hi < vHi go
		if c.Op == specs.OpLessThan || c.Op == specs.OpLessEqual {
			above, below = f, t
		}
		eq := a.newLabel()
		a.jumpIf(bpf.JumpGreaterThan, vHi, above, eq)
		a.mark(eq)
		a.jumpIf(bpf.JumpEqual, vHi, lo, below)
		a.mark(lo)
		a.emit(ldLo)
		switch c.Op {
		case specs.OpGreaterThan:
			a.jumpIf(bpf.JumpGreaterThan, vLo, t, f)
		case specs.OpGreaterEqual:
			a.jumpIf(bpf.JumpGreaterOrEqual, vLo, t, f)
		case specs.OpLessThan:
			a.jumpIf(bpf.JumpGreaterOrEqual, vLo, f, t)
		case specs.OpLessEqual:
			a.jumpIf(bpf.JumpGreaterThan, vLo, f, t)
		}
	}
}
