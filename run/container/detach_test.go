package container

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestParseDetachKeys(t *testing.T) {
	for in, want := range map[string][]byte{"ctrl-p,ctrl-q": {0x10, 0x11}, "ctrl-x": {0x18}, "a,ctrl-@": {'a', 0}, "ctrl-[": {0x1b}} {
		got, err := ParseDetachKeys(in)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"ctrl-1", "ab", ""} {
		if _, err := ParseDetachKeys(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestDetachReader(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		detached bool
	}{
		{"abc", "abc", false},
		{"ab\x10\x11cd", "ab", true},
		{"\x10a\x10\x10\x11", "\x10a\x10", true},
		{"x\x10", "x\x10", false},
	} {
		got, err := io.ReadAll(newDetachReader(bytes.NewReader([]byte(tc.in)), DefaultDetachKeys))
		if string(got) != tc.want || errors.Is(err, ErrDetached) != tc.detached {
			t.Errorf("%q: read %q, %v; want %q, detached %v", tc.in, got, err, tc.want, tc.detached)
		}
	}
}
