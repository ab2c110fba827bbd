package run

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

// A slave bind mount makes "/" rslave and every other bind mount rprivate (docker's default);
// shared propagation is refused, never silently private.
func TestParseMountsPropagation(t *testing.T) {
	dir := t.TempDir()
	ms, rootSlave, err := parseMounts([]Mount{
		{Type: "bind", Source: dir, Target: "/a", Propagation: "rslave"},
		{Type: "bind", Source: dir, Target: "/b"},
		{Type: "tmpfs", Target: "/t"},
	})
	if err != nil || !rootSlave {
		t.Fatalf("parseMounts: rootSlave %v, %v", rootSlave, err)
	}
	if ms[0].Propagation != unix.MS_SLAVE|unix.MS_REC || ms[1].Propagation != unix.MS_PRIVATE|unix.MS_REC || ms[2].Propagation != 0 {
		t.Errorf("propagation flags: %#x %#x %#x", ms[0].Propagation, ms[1].Propagation, ms[2].Propagation)
	}
	ms, rootSlave, err = parseMounts([]Mount{{Type: "bind", Source: dir, Target: "/b"}})
	if err != nil || rootSlave || ms[0].Propagation != 0 {
		t.Errorf("no slave mount: rootSlave %v, flags %#x, %v", rootSlave, ms[0].Propagation, err)
	}
	for _, m := range []Mount{
		{Type: "bind", Source: dir, Target: "/a", Propagation: "rshared"},
		{Type: "tmpfs", Target: "/t", Propagation: "rslave"},
	} {
		if _, _, err := parseMounts([]Mount{m}); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("parseMounts(%+v) = %v, want ErrInvalidSpec", m, err)
		}
	}
}
