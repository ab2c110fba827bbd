package prereq

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records how the test ended instead of ending it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestSkipIsAFailureInStrictMode(t *testing.T) {
	for _, strict := range []string{"", "0", "1"} {
		t.Run("HOIST_TEST_STRICT="+strict, func(t *testing.T) {
			t.Setenv(StrictEnv, strict)
			r := &recorder{TB: t}
			Skip(r, "no %s", "frobnicator")
			got := r.skipped
			if strict == "1" {
				got = r.failed
				if r.skipped != "" {
					t.Errorf("skipped in strict mode: %q", r.skipped)
				}
			} else if r.failed != "" {
				t.Errorf("failed outside strict mode: %q", r.failed)
			}
			if !strings.HasPrefix(got, Marker+"no frobnicator") {
				t.Errorf("message %q, want it to start with %q", got, Marker+"no frobnicator")
			}
		})
	}
}
