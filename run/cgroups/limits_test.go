package cgroups

import (
	"errors"
	"testing"

	"github.com/moby/sys/userns"
)

func TestLimitsError(t *testing.T) {
	if err := limitsError(Resources{}, ErrNotDelegated); err != nil {
		t.Errorf("no limits: %v", err)
	}
	err := limitsError(Resources{Memory: 1 << 26, PidsLimit: 10}, ErrNotDelegated)
	if err == nil || err.Error() != "--memory, --pids-limit: "+ErrNotDelegated.Error() || !errors.Is(err, ErrNotDelegated) {
		t.Errorf("memory and pids: %v", err)
	}
	// Outside a user namespace (root's hoist) CheckLimits lets every limit through to Create.
	if !userns.RunningInUserNS() {
		if err := CheckLimits(Resources{Memory: 1 << 26, NanoCPUs: 5e8}); err != nil {
			t.Errorf("CheckLimits outside a user namespace: %v", err)
		}
	}
}
