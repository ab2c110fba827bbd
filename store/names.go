package store

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

const (
	dockerHubDomain = "docker.io"
	officialPrefix  = "library/"
)

// ParseName parses s as an image reference with docker's rules (ggcr name,
// weak validation): "busybox" is index.docker.io/library/busybox:latest, a
// "@sha256:..." suffix gives a name.Digest. Like docker, a bare 64-hex
// string is rejected as a name because it would shadow an image ID.
// Errors wrap ErrInvalidName.
func ParseName(s string) (name.Reference, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: empty name", ErrInvalidName)
	}
	ref, err := name.ParseReference(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidName, err)
	}
	if isHex(s) && len(s) == 64 {
		return nil, fmt.Errorf("%w: %q: cannot specify 64-byte hexadecimal strings", ErrInvalidName, s)
	}
	return ref, nil
}

// parseTag parses s and requires a tag (not a digest) reference.
func parseTag(s string) (name.Tag, error) {
	ref, err := ParseName(s)
	if err != nil {
		return name.Tag{}, err
	}
	t, ok := ref.(name.Tag)
	if !ok {
		return name.Tag{}, fmt.Errorf("%w: %q: a tag is required, not a digest", ErrInvalidName, s)
	}
	return t, nil
}

// NormalizedName returns docker's fully-qualified form of ref, as stored in
// the index: "docker.io/library/busybox:latest", "localhost:5000/x:1",
// "docker.io/library/busybox@sha256:...".
func NormalizedName(ref name.Reference) string {
	repo := normalizedRepo(ref.Context())
	if d, ok := ref.(name.Digest); ok {
		return repo + "@" + d.DigestStr()
	}
	return repo + ":" + ref.Identifier()
}

func normalizedRepo(r name.Repository) string {
	reg := r.RegistryStr()
	if reg == name.DefaultRegistry {
		reg = dockerHubDomain
	}
	return reg + "/" + r.RepositoryStr()
}

// FamiliarRepo returns docker's short display form of ref's repository:
// "busybox", "foo/bar", "localhost:5000/x" (the REPOSITORY column).
func FamiliarRepo(ref name.Reference) string {
	r := ref.Context()
	if r.RegistryStr() != name.DefaultRegistry {
		return r.RegistryStr() + "/" + r.RepositoryStr()
	}
	repo := r.RepositoryStr()
	if rest, ok := strings.CutPrefix(repo, officialPrefix); ok && !strings.Contains(rest, "/") {
		return rest
	}
	return repo
}

// FamiliarTag returns the tag of ref (the TAG column), or "<none>" for a
// digest reference.
func FamiliarTag(ref name.Reference) string {
	if t, ok := ref.(name.Tag); ok {
		return t.TagStr()
	}
	return "<none>"
}

// FamiliarName returns docker's short display form of ref:
// "busybox:latest", "foo/bar:1", "localhost:5000/x:1", "busybox@sha256:...".
func FamiliarName(ref name.Reference) string {
	if d, ok := ref.(name.Digest); ok {
		return FamiliarRepo(ref) + "@" + d.DigestStr()
	}
	return FamiliarRepo(ref) + ":" + ref.Identifier()
}

// familiar converts a stored (normalized) name to its familiar form; names
// that fail to parse are returned unchanged.
func familiar(stored string) string {
	ref, err := ParseName(stored)
	if err != nil {
		return stored
	}
	return FamiliarName(ref)
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
