package builder

import "testing"

// TestRedactCredentials: BuildKit's rule for the origin of a kept .git (urlutil.RedactCredentials).
func TestRedactCredentials(t *testing.T) {
	for in, want := range map[string]string{
		"ssh://git@host:2222/repo.git":     "ssh://xxxxx@host:2222/repo.git",
		"https://user:token@host/repo.git": "https://xxxxx:xxxxx@host/repo.git",
		"https://:token@host/repo.git":     "https://:xxxxx@host/repo.git",
		"https://host/repo.git":            "https://host/repo.git",
		"git://127.0.0.1:9418/repo.git":    "git://127.0.0.1:9418/repo.git",
		"git@github.com:moby/buildkit.git": "git@github.com:moby/buildkit.git",
		"ssh://git@[::1]:22/~/repo.git":    "ssh://xxxxx@[::1]:22/~/repo.git",
	} {
		if got := redactCredentials(in); got != want {
			t.Errorf("redactCredentials(%q) = %q, want %q", in, got, want)
		}
	}
}
