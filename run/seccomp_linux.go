package run

import (
	"fmt"

	"github.com/hoistbuild/hoist/run/seccomp"
)

// seccompFilter is the compiled filter of a sandbox; nil installs nothing.
type seccompFilter = seccomp.Program

// seccompFor compiles the filter s asks for: nil when privileged or
// unconfined, s.SeccompProfile when given, else docker's default profile
// (compiled once per process per capability set). The profile's rules that
// depend on capabilities are evaluated for s's capabilities, as docker does.
func seccompFor(s Security) (*seccompFilter, error) {
	if s.Privileged || s.SeccompUnconfined {
		return nil, nil
	}
	caps, err := s.Capabilities()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	if s.SeccompProfile == nil {
		p, err := seccomp.DefaultProgram(caps)
		if err != nil {
			return nil, fmt.Errorf("compiling the default seccomp profile: %w", err)
		}
		return p, nil
	}
	cfg, err := seccomp.Parse(s.SeccompProfile, caps)
	if err != nil {
		return nil, fmt.Errorf("%w: seccomp profile: %w", ErrInvalidSpec, err)
	}
	p, err := seccomp.Compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: seccomp profile: %w", ErrInvalidSpec, err)
	}
	return p, nil
}

// CheckSeccompProfile reports whether data is a seccomp profile in docker's
// JSON format that hoist can compile, with the problem named when it is not.
func CheckSeccompProfile(data []byte) error {
	cfg, err := seccomp.Parse(data, DefaultCapabilities)
	if err != nil {
		return err
	}
	_, err = seccomp.Compile(cfg)
	return err
}

// installSeccomp loads f on the calling thread; nil does nothing.
func installSeccomp(f *seccompFilter) error {
	if f == nil {
		return nil
	}
	if err := f.Install(); err != nil {
		return fmt.Errorf("installing seccomp filter: %w", err)
	}
	return nil
}
