package rootless

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestHostMapping(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	full := write("full", "other:1:65536\nci:100000:65536\nci:100000:65536\n")
	split := write("split", "1001:300000:1000\nci:400000:64536\n")
	small := write("small", "ci:100000:1000\n")
	none := write("none", "other:100000:65536\n")
	missing := filepath.Join(dir, "absent")

	m, warn, err := hostMapping(1001, 1002, "ci", full, full)
	if err != nil || warn != "" {
		t.Fatalf("full: %v %q", err, warn)
	}
	want := []IDRange{{0, 1001, 1}, {1, 100000, 65536}} // the duplicate line is dropped
	if !reflect.DeepEqual(m.UIDs, want) || m.GIDs[0] != (IDRange{0, 1002, 1}) || m.Single() {
		t.Errorf("full: %+v", m)
	}

	m, _, err = hostMapping(1001, 1001, "ci", split, split)
	if err != nil {
		t.Fatal(err)
	}
	want = []IDRange{{0, 1001, 1}, {1, 300000, 1000}, {1001, 400000, 64536}} // by uid, then by name, in file order
	if !reflect.DeepEqual(m.UIDs, want) {
		t.Errorf("split: %+v", m.UIDs)
	}

	if _, _, err := hostMapping(1001, 1001, "ci", small, small); !errors.Is(err, ErrSubIDRange) || !strings.Contains(err.Error(), small) {
		t.Errorf("small range: %v", err)
	}

	for _, f := range []string{none, missing} {
		m, warn, err := hostMapping(1001, 1001, "ci", f, f)
		if err != nil || !m.Single() || !strings.Contains(warn, "usermod --add-subuids") {
			t.Errorf("%s: %+v %q %v", f, m, warn, err)
		}
	}
	if got := rangesLine(want[:2]); got != "0 1001 1\n1 300000 1000\n" {
		t.Errorf("rangesLine: %q", got)
	}
}
