package cgroups

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// Freeze stops a real process: its CPU time stops advancing while frozen and goes on after Thaw.
func TestFreezeThaw(t *testing.T) {
	requireRoot(t)
	if !IsV2() {
		if m, err := v1Mounts(); err != nil || m["freezer"] == "" {
			prereq.Skip(t, "cgroup v1 without a freezer hierarchy mounted")
		}
	}
	cg, err := Create(testID(), Resources{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cg.Thaw()
		if err := cg.Destroy(); err != nil {
			t.Error(err)
		}
	})
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = busy.Process.Kill(); _ = busy.Wait() })
	if err := cg.Add(busy.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if err := cg.Freeze(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, err := cg.FreezerState(); err != nil || s != "frozen" {
		t.Fatalf("state after Freeze: %q, %v", s, err)
	}
	before := cpuTicks(t, busy.Process.Pid)
	time.Sleep(300 * time.Millisecond)
	if after := cpuTicks(t, busy.Process.Pid); after != before {
		t.Errorf("a frozen process ran: utime+stime %d -> %d", before, after)
	}
	if err := cg.Thaw(); err != nil {
		t.Fatal(err)
	}
	if s, err := cg.FreezerState(); err != nil || s != "thawed" {
		t.Errorf("state after Thaw: %q, %v", s, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cpuTicks(t, busy.Process.Pid) == before {
		if time.Now().After(deadline) {
			t.Fatal("the thawed process never ran again")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := (&Cgroup{Paths: map[string]string{"memory": "/nonexistent"}}).Freeze(context.Background()); !errors.Is(err, ErrNoFreezer) {
		t.Errorf("Freeze without a freezer: %v", err)
	}
}

// cpuTicks is utime+stime of pid (/proc/pid/stat fields 14 and 15).
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.Atoi(f[11])
	k, _ := strconv.Atoi(f[12])
	return u + k
}
