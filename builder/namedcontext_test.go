package builder

import (
	"strings"
	"testing"
)

// TestParseBuildContext: names are matched as BuildKit matches them (alpine = alpine:latest =
// docker.io/library/alpine, a tag is part of the name); values as buildx reads them.
func TestParseBuildContext(t *testing.T) {
	dir := t.TempDir()
	keys := map[string]bool{}
	for _, n := range []string{"alpine", "alpine:latest", "docker.io/library/alpine"} {
		k, nc, err := ParseBuildContext(n + "=" + dir)
		if err != nil || nc.Kind != ContextLocal || nc.Dir != dir {
			t.Fatalf("%s: %+v, %v", n, nc, err)
		}
		keys[k] = true
	}
	if len(keys) != 1 {
		t.Errorf("alpine, alpine:latest and docker.io/library/alpine gave keys %v", keys)
	}
	k318, _, _ := ParseBuildContext("alpine:3.18=" + dir)
	if keys[k318] {
		t.Error("alpine:3.18 has the key of alpine:latest")
	}
	if _, nc, err := ParseBuildContext("base=docker-image://busybox:1"); err != nil || nc.Kind != ContextImage || nc.Ref != "busybox:1" {
		t.Errorf("docker-image: %+v, %v", nc, err)
	}
	for spec, want := range map[string]string{
		"novalue":                        "expected key=value",
		"=x":                             "expected key=value",
		"UPPER=" + dir:                   "invalid context name",
		"x=docker-image://Not Valid":     "--build-context x=docker-image://Not Valid",
		"x=git@github.com:a/b.git":       "contexts are not supported",
		"x=https://example.com/a.tar.gz": "https contexts are not supported",
		"x=target:foo":                   "target contexts are not supported",
		"x=" + dir + "/missing":          "invalid context path",
		"x=oci-layout://" + dir:          "reading OCI layout",
	} {
		if _, _, err := ParseBuildContext(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseBuildContext(%q) = %v, want %q", spec, err, want)
		}
	}
}
