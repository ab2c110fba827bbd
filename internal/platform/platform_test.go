package platform

import (
	"runtime"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"linux/arm64": "linux/arm64", "arm64": "linux/arm64", "linux/aarch64": "linux/arm64",
		"linux/arm64/v8": "linux/arm64", "linux/arm": "linux/arm/v7", "linux/arm/v6": "linux/arm/v6",
		"linux/amd64": "linux/amd64", " linux/s390x ": "linux/s390x", "linux/x86_64": "linux/amd64",
	} {
		p, err := Parse(in)
		if err != nil || Format(p) != want {
			t.Errorf("Parse(%q) = %s, %v; want %s", in, Format(p), err, want)
		}
	}
	for in, want := range map[string]string{
		"":              "empty platform",
		"linux/foo":     `unknown platform "linux/foo": architecture "foo"`,
		"windows/amd64": "only linux images",
		"a/b/c/d":       "invalid platform",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", in, err, want)
		}
	}
}

func TestParseList(t *testing.T) {
	ps, err := ParseList("linux/amd64,linux/arm64")
	if err != nil || len(ps) != 2 || Format(ps[1]) != "linux/arm64" {
		t.Fatalf("ParseList = %v, %v", ps, err)
	}
	if _, err := ParseList("linux/arm64,aarch64"); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("duplicate: %v", err)
	}
	if _, err := ParseList("linux/amd64,"); err == nil {
		t.Errorf("empty element accepted")
	}
}

func TestMatch(t *testing.T) {
	arm := func(v string) v1.Platform { return v1.Platform{OS: "linux", Architecture: "arm", Variant: v} }
	arm64 := v1.Platform{OS: "linux", Architecture: "arm64"}
	for _, tc := range []struct {
		want, have v1.Platform
		ok         bool
	}{
		{arm64, arm64, true},
		{arm64, v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, true},
		{arm("v7"), arm(""), true},
		{arm("v7"), arm("v6"), false},
		{arm64, v1.Platform{OS: "linux", Architecture: "amd64"}, false},
	} {
		if got := Match(tc.want, tc.have); got != tc.ok {
			t.Errorf("Match(%v, %v) = %v", tc.want, tc.have, got)
		}
	}
	if h := Host(); h.OS != "linux" || h.Architecture != runtime.GOARCH {
		t.Errorf("Host() = %v", h)
	}
}
