// Command testsum reads `go test -json` on stdin and prints what `go test` without -v prints (each
// package's ok/FAIL line, the output of failed tests, build errors), then a summary: how many tests
// (and subtests) passed, failed and were skipped, with every skip and its reason.
//
// A skip whose reason starts with "missing prerequisite: " (internal/testutil/prereq) is counted
// apart. With HOIST_TEST_STRICT=1 such a skip cannot happen (prereq fails the test instead), and
// testsum exits 1 if one shows up all the same. It exits 1 when a test or a build failed.
//
// Usage: set -o pipefail; go test -json ./... | go run ./hack/testsum [-json FILE]
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// marker is prereq.Marker (hack/ does not import test packages).
const marker = "missing prerequisite: "

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output, build-fail
}

type key struct{ pkg, test string }

type skip struct {
	key
	reason string
	prereq bool
}

type summary struct {
	out                    io.Writer
	buf                    map[key][]string
	passed, failed         int
	prereqFailed           int
	skips                  []skip
	buildFailed, pkgFailed bool
}

func (s *summary) add(e event) {
	k := key{e.Package, e.Test}
	switch {
	case e.Action == "build-output":
		fmt.Fprint(s.out, e.Output)
	case e.Action == "build-fail":
		s.buildFailed = true
	case e.Test == "" && e.Action == "output":
		if e.Output != "PASS\n" {
			fmt.Fprint(s.out, e.Output)
		}
	case e.Test == "" && e.Action == "fail":
		s.pkgFailed = true
		// Tests that never ended (a timeout, a panic elsewhere): show what they printed.
		var left []key
		for k := range s.buf {
			if k.pkg == e.Package {
				left = append(left, k)
			}
		}
		sort.Slice(left, func(i, j int) bool { return left[i].test < left[j].test })
		for _, k := range left {
			fmt.Fprint(s.out, strings.Join(s.buf[k], ""))
			delete(s.buf, k)
		}
	case e.Test == "":
	case e.Action == "output":
		s.buf[k] = append(s.buf[k], e.Output)
	case e.Action == "pass":
		s.passed++
		delete(s.buf, k)
	case e.Action == "fail":
		s.failed++
		out := strings.Join(s.buf[k], "")
		if strings.Contains(out, marker) {
			s.prereqFailed++
		}
		fmt.Fprint(s.out, out)
		delete(s.buf, k)
	case e.Action == "skip":
		reason := skipReason(s.buf[k])
		s.skips = append(s.skips, skip{k, reason, strings.Contains(reason, marker)})
		delete(s.buf, k)
	}
}

// skipReason is what the test logged, without the framework's === and --- lines.
func skipReason(lines []string) string {
	var r []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- ") {
			continue
		}
		r = append(r, t)
	}
	return strings.Join(r, " | ")
}

// report prints the summary and returns the exit status.
func (s *summary) report(strict bool) int {
	prereqSkips := 0
	for _, sk := range s.skips {
		if sk.prereq {
			prereqSkips++
		}
	}
	fmt.Fprintf(s.out, "\ntestsum: %d passed, %d failed", s.passed, s.failed)
	if s.prereqFailed > 0 {
		fmt.Fprintf(s.out, " (%d for a missing prerequisite)", s.prereqFailed)
	}
	fmt.Fprintf(s.out, ", %d skipped (%d for a missing prerequisite)", len(s.skips), prereqSkips)
	if strict {
		fmt.Fprint(s.out, "; strict mode (HOIST_TEST_STRICT=1)")
	}
	fmt.Fprintln(s.out)
	for _, sk := range s.skips {
		fmt.Fprintf(s.out, "  SKIP %s %s: %s\n", sk.pkg, sk.test, sk.reason)
	}
	switch {
	case s.failed > 0 || s.buildFailed || s.pkgFailed:
		fmt.Fprintln(s.out, "testsum: FAIL")
		return 1
	case strict && prereqSkips > 0:
		fmt.Fprintf(s.out, "testsum: FAIL: %d tests skipped for a missing prerequisite in strict mode\n", prereqSkips)
		return 1
	}
	return 0
}

func main() {
	raw := flag.String("json", "", "also write the raw `go test -json` stream to this file")
	flag.Parse()
	var in io.Reader = os.Stdin
	if *raw != "" {
		f, err := os.Create(*raw)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(2)
		}
		defer f.Close()
		in = io.TeeReader(in, f)
	}
	s := &summary{out: os.Stdout, buf: map[key][]string{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// Not an event (go vet or the linker writing to stdout): pass it through.
			fmt.Fprintln(s.out, sc.Text())
			continue
		}
		s.add(e)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "testsum: reading go test -json:", err)
		os.Exit(2)
	}
	os.Exit(s.report(os.Getenv("HOIST_TEST_STRICT") == "1"))
}
