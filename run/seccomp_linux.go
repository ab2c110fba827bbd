package run

// PLACEHOLDER until run/seccomp lands: not to be committed.

type seccompFilter struct{}

func seccompFor(s Security) (*seccompFilter, error) { return nil, nil }

func (f *seccompFilter) install() error { return nil }

func CheckSeccompProfile(data []byte) error { return nil }
