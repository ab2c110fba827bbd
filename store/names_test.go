package store

import (
	"errors"
	"strings"
	"testing"
)

func TestNames(t *testing.T) {
	dgst := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in                   string
		ggcr                 string // ref.Name()
		normalized, familiar string
		familiarRepo, famTag string
		wantErr              bool
	}{
		{in: "busybox", ggcr: "index.docker.io/library/busybox:latest", normalized: "docker.io/library/busybox:latest", familiar: "busybox:latest", familiarRepo: "busybox", famTag: "latest"},
		{in: "busybox:1.36", ggcr: "index.docker.io/library/busybox:1.36", normalized: "docker.io/library/busybox:1.36", familiar: "busybox:1.36", familiarRepo: "busybox", famTag: "1.36"},
		{in: "docker.io/library/busybox:latest", ggcr: "index.docker.io/library/busybox:latest", normalized: "docker.io/library/busybox:latest", familiar: "busybox:latest", familiarRepo: "busybox", famTag: "latest"},
		{in: "index.docker.io/library/busybox", ggcr: "index.docker.io/library/busybox:latest", normalized: "docker.io/library/busybox:latest", familiar: "busybox:latest", familiarRepo: "busybox", famTag: "latest"},
		{in: "foo/bar:1", ggcr: "index.docker.io/foo/bar:1", normalized: "docker.io/foo/bar:1", familiar: "foo/bar:1", familiarRepo: "foo/bar", famTag: "1"},
		{in: "library/a/b", ggcr: "index.docker.io/library/a/b:latest", normalized: "docker.io/library/a/b:latest", familiar: "library/a/b:latest", familiarRepo: "library/a/b", famTag: "latest"},
		{in: "localhost:5000/x:1", ggcr: "localhost:5000/x:1", normalized: "localhost:5000/x:1", familiar: "localhost:5000/x:1", familiarRepo: "localhost:5000/x", famTag: "1"},
		{in: "localhost/x", ggcr: "localhost/x:latest", normalized: "localhost/x:latest", familiar: "localhost/x:latest", familiarRepo: "localhost/x", famTag: "latest"},
		{in: "ghcr.io/o/r/i:v", ggcr: "ghcr.io/o/r/i:v", normalized: "ghcr.io/o/r/i:v", familiar: "ghcr.io/o/r/i:v", familiarRepo: "ghcr.io/o/r/i", famTag: "v"},
		{in: "busybox@" + dgst, ggcr: "index.docker.io/library/busybox@" + dgst, normalized: "docker.io/library/busybox@" + dgst, familiar: "busybox@" + dgst, familiarRepo: "busybox", famTag: "<none>"},
		{in: "", wantErr: true},
		{in: "Busybox", wantErr: true},
		{in: "busybox:", wantErr: true},
		{in: "a b", wantErr: true},
		{in: strings.Repeat("ab", 32), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			ref, err := ParseName(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidName) {
					t.Fatalf("ParseName(%q) error = %v, want ErrInvalidName", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ref.Name(); got != tt.ggcr {
				t.Errorf("Name = %q, want %q", got, tt.ggcr)
			}
			if got := NormalizedName(ref); got != tt.normalized {
				t.Errorf("NormalizedName = %q, want %q", got, tt.normalized)
			}
			if got := FamiliarName(ref); got != tt.familiar {
				t.Errorf("FamiliarName = %q, want %q", got, tt.familiar)
			}
			if got := FamiliarRepo(ref); got != tt.familiarRepo {
				t.Errorf("FamiliarRepo = %q, want %q", got, tt.familiarRepo)
			}
			if got := FamiliarTag(ref); got != tt.famTag {
				t.Errorf("FamiliarTag = %q, want %q", got, tt.famTag)
			}
			// The normalized form parses back to the same reference.
			back, err := ParseName(tt.normalized)
			if err != nil || back.Name() != ref.Name() {
				t.Errorf("round trip of %q: %v %v", tt.normalized, back, err)
			}
		})
	}
}
