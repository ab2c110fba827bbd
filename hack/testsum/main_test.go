package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func feed(t *testing.T, events ...event) (*summary, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	s := &summary{out: &out, buf: map[key][]string{}}
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		s.add(back)
	}
	return s, &out
}

func TestSummary(t *testing.T) {
	const pkg = "example/p"
	s, out := feed(t,
		event{Action: "output", Package: pkg, Test: "TestOK", Output: "=== RUN   TestOK\n"},
		event{Action: "pass", Package: pkg, Test: "TestOK"},
		event{Action: "output", Package: pkg, Test: "TestBad", Output: "    x_test.go:9: boom\n"},
		event{Action: "fail", Package: pkg, Test: "TestBad"},
		event{Action: "output", Package: pkg, Test: "TestShort", Output: "    x_test.go:3: -short\n"},
		event{Action: "skip", Package: pkg, Test: "TestShort"},
		event{Action: "output", Package: pkg, Test: "TestRoot", Output: "    x_test.go:4: " + marker + "needs root\n"},
		event{Action: "skip", Package: pkg, Test: "TestRoot"},
		event{Action: "output", Package: pkg, Output: "PASS\n"},
		event{Action: "output", Package: pkg, Output: "FAIL\texample/p\t0.1s\n"},
	)
	if s.passed != 1 || s.failed != 1 || len(s.skips) != 2 || !s.skips[1].prereq || s.skips[0].prereq {
		t.Fatalf("passed %d failed %d skips %+v", s.passed, s.failed, s.skips)
	}
	if got := out.String(); !strings.Contains(got, "boom") || strings.Contains(got, "TestOK") || strings.Contains(got, "PASS\n") ||
		!strings.Contains(got, "FAIL\texample/p") {
		t.Errorf("output:\n%s", got)
	}
	if code := s.report(false); code != 1 {
		t.Errorf("exit %d with a failed test", code)
	}
	if !strings.Contains(out.String(), "2 skipped (1 for a missing prerequisite)") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestStrictFailsOnPrerequisiteSkip(t *testing.T) {
	s, _ := feed(t,
		event{Action: "output", Package: "p", Test: "TestRoot", Output: marker + "needs root\n"},
		event{Action: "skip", Package: "p", Test: "TestRoot"},
	)
	if code := s.report(false); code != 0 {
		t.Errorf("not strict: exit %d", code)
	}
	if code := s.report(true); code != 1 {
		t.Errorf("strict: exit %d, want 1", code)
	}
}
