package cgroups

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ErrNoFreezer is returned by Freeze when the cgroup has no freezer (a v1 host without the freezer
// hierarchy, or a cgroup made before hoist joined it).
var ErrNoFreezer = errors.New("the cgroup has no freezer")

// freezerFiles are the file a state is written to and read back from, and the values meaning
// frozen and thawed: v2 cgroup.freeze (with cgroup.events' "frozen 1"), v1 freezer.state.
func (cg *Cgroup) freezerFiles() (dir, set, get, frozen, thawed string, err error) {
	if cg.V2 {
		return cg.Paths[""], "cgroup.freeze", "cgroup.events", "frozen 1", "frozen 0", nil
	}
	d, ok := cg.Paths["freezer"]
	if !ok {
		return "", "", "", "", "", ErrNoFreezer
	}
	return d, "freezer.state", "freezer.state", "FROZEN", "THAWED", nil
}

// Freeze stops every process of the cgroup (docker pause, commit's --pause) and returns once the
// kernel reports them all frozen, or ctx ends (the cgroup is then thawed again).
func (cg *Cgroup) Freeze(ctx context.Context) error {
	dir, set, get, frozen, _, err := cg.freezerFiles()
	if err != nil {
		return err
	}
	value := "FROZEN"
	if cg.V2 {
		value = "1"
	}
	if err := write(dir, set, value); err != nil {
		return err
	}
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		b, err := os.ReadFile(filepath.Join(dir, get))
		if err != nil {
			_ = cg.Thaw()
			return fmt.Errorf("reading the freezer state: %w", err)
		}
		if hasLine(string(b), frozen) {
			return nil
		}
		select {
		case <-ctx.Done():
			_ = cg.Thaw()
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// Thaw lets the processes of a frozen cgroup run again.
func (cg *Cgroup) Thaw() error {
	dir, set, _, _, _, err := cg.freezerFiles()
	if err != nil {
		return err
	}
	value := "THAWED"
	if cg.V2 {
		value = "0"
	}
	return write(dir, set, value)
}

// FreezerState is "frozen", "thawed" or (v1, on the way) "freezing".
func (cg *Cgroup) FreezerState() (string, error) {
	dir, _, get, frozen, thawed, err := cg.freezerFiles()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, get))
	if err != nil {
		return "", err
	}
	switch s := string(b); {
	case hasLine(s, frozen):
		return "frozen", nil
	case hasLine(s, thawed):
		return "thawed", nil
	}
	return "freezing", nil
}

func hasLine(s, line string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) == line {
			return true
		}
	}
	return false
}
