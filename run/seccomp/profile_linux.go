package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	profiles "github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Default returns docker's default profile evaluated for the capability
// set caps (names like "CAP_SYS_ADMIN"; the profile's includes/excludes
// depend on them, e.g. CAP_SYS_ADMIN allows mount/unshare), for this
// machine's architecture and kernel version.
func Default(caps []string) (*specs.LinuxSeccomp, error) {
	cfg, err := profiles.GetDefaultProfile(specFor(caps))
	if err != nil {
		return nil, fmt.Errorf("docker's default seccomp profile: %w", err)
	}
	return cfg, nil
}

// Parse reads a profile in docker's JSON format (what `docker run
// --security-opt seccomp=FILE.json` accepts) and evaluates it for caps
// like Default. A malformed profile gives one error saying what and where
// (JSON offset, or the rule's index and names). Unlike docker, a profile
// without a defaultAction is an error, not "no filter". Unknown syscall
// names are not an error: Compile skips them, as runc does.
func Parse(data []byte, caps []string) (*specs.LinuxSeccomp, error) {
	var raw profiles.Seccomp
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", jsonError(data, err))
	}
	if err := validateRaw(&raw); err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	cfg, err := profiles.LoadProfile(string(data), specFor(caps))
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	if cfg == nil {
		return nil, errors.New("seccomp profile: no defaultAction")
	}
	return cfg, nil
}

// DefaultProgram returns Compile(Default(caps)), compiled once per
// process for each distinct set of caps (order and repeats do not
// matter). It is safe for concurrent use; the Program is shared.
func DefaultProgram(caps []string) (*Program, error) {
	set := slices.Clone(caps)
	slices.Sort(set)
	set = slices.Compact(set)
	v, _ := defaultPrograms.LoadOrStore(strings.Join(set, ","), &cachedProgram{})
	c := v.(*cachedProgram)
	c.once.Do(func() {
		cfg, err := Default(set)
		if err != nil {
			c.err = err
			return
		}
		c.p, c.err = Compile(cfg)
	})
	return c.p, c.err
}

var defaultPrograms sync.Map // sorted caps joined by "," -> *cachedProgram

type cachedProgram struct {
	once sync.Once
	p    *Program
	err  error
}

// specFor is the part of a runtime spec the profile's conditions read.
func specFor(caps []string) *specs.Spec {
	return &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: slices.Clone(caps),
	}}}
}

// jsonError adds the line and column to encoding/json's errors.
func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn): // Offset counts the offending byte
		return fmt.Errorf("JSON syntax error at %s: %w", where(data, syn.Offset-1), err)
	case errors.As(err, &typ): // Offset is just after the value
		return fmt.Errorf("wrong JSON type before %s: %w", where(data, typ.Offset), err)
	}
	return err
}

// where gives the 1-based line and column of byte off of data.
func where(data []byte, off int64) string {
	off = max(0, min(off, int64(len(data))))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d (offset %d)", line, col, off)
}

// validateRaw checks every rule of a profile as written, including the
// rules its includes/excludes leave out for these caps.
func validateRaw(p *profiles.Seccomp) error {
	if p.DefaultAction == "" {
		return errors.New("no defaultAction")
	}
	if _, err := actionRet(p.DefaultAction, p.DefaultErrnoRet); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	for _, a := range p.Architectures {
		if !knownArches[a] {
			return fmt.Errorf("architectures: unknown architecture %q", a)
		}
	}
	for i, m := range p.ArchMap {
		for _, a := range append([]specs.Arch{m.Arch}, m.SubArches...) {
			if !knownArches[a] {
				return fmt.Errorf("archMap[%d]: unknown architecture %q", i, a)
			}
		}
	}
	if _, err := filterFlags(p.Flags); err != nil {
		return err
	}
	for i, sc := range p.Syscalls {
		s := sc.LinuxSyscall
		if sc.Name != "" {
			s.Names = append([]string{sc.Name}, s.Names...)
		}
		if err := validateSyscall(&s); err != nil {
			return fmt.Errorf("syscalls[%d] %s: %w", i, describe(s.Names), err)
		}
	}
	return nil
}

// validate checks an evaluated profile, as Compile receives it.
func validate(cfg *specs.LinuxSeccomp) error {
	if _, err := actionRet(cfg.DefaultAction, cfg.DefaultErrnoRet); err != nil {
		return fmt.Errorf("defaultAction: %w", err)
	}
	for i := range cfg.Syscalls {
		s := &cfg.Syscalls[i]
		if err := validateSyscall(s); err != nil {
			return fmt.Errorf("syscalls[%d] %s: %w", i, describe(s.Names), err)
		}
	}
	return nil
}

func validateSyscall(s *specs.LinuxSyscall) error {
	if _, err := actionRet(s.Action, s.ErrnoRet); err != nil {
		return err
	}
	for _, n := range s.Names {
		if n == "" {
			return errors.New("empty syscall name")
		}
	}
	for j, c := range s.Args {
		if c.Index > 5 {
			return fmt.Errorf("args[%d]: index %d, a syscall has arguments 0 to 5", j, c.Index)
		}
		switch c.Op {
		case specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual, specs.OpEqualTo,
			specs.OpGreaterEqual, specs.OpGreaterThan, specs.OpMaskedEqual:
		default:
			return fmt.Errorf("args[%d]: unknown operator %q", j, c.Op)
		}
	}
	return nil
}

func describe(names []string) string {
	if len(names) > 3 {
		return fmt.Sprintf("(%s, ...)", strings.Join(names[:3], ", "))
	}
	return "(" + strings.Join(names, ", ") + ")"
}

// actionRet is the filter's return value for an action; errno is the
// errno of SCMP_ACT_ERRNO and the tracer's value of SCMP_ACT_TRACE
// (EPERM when nil, as runc does).
func actionRet(act specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	data := uint32(unix.EPERM)
	if errno != nil {
		if *errno > unix.SECCOMP_RET_DATA {
			return 0, fmt.Errorf("errnoRet %d does not fit in 16 bits", *errno)
		}
		data = uint32(*errno)
	}
	switch act {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | data, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | data, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActNotify:
		return 0, errors.New("action SCMP_ACT_NOTIFY is not supported (hoist has no seccomp agent)")
	case "":
		return 0, errors.New("no action")
	}
	return 0, fmt.Errorf("unknown action %q", act)
}

// filterFlags maps the profile's flags to SECCOMP_FILTER_FLAG_* bits.
func filterFlags(flags []specs.LinuxSeccompFlag) (uint, error) {
	var out uint
	for _, f := range flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			out |= unix.SECCOMP_FILTER_FLAG_LOG
		case specs.LinuxSeccompFlagSpecAllow:
			out |= unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW
		case specs.LinuxSeccompFlagWaitKillableRecv:
			return 0, fmt.Errorf("flag %s only applies to SCMP_ACT_NOTIFY, which is not supported", f)
		default:
			return 0, fmt.Errorf("unknown flag %q", f)
		}
	}
	return out, nil
}
