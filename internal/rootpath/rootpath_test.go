package rootpath

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fuzzTree lays out base/root (dirs a, a/b; files f, a/b/g) and base/outside/secret, then creates
// the symlinks listed in spec ("name=target" per line, name inside the root, parents created when
// no symlink is in the way).
func fuzzTree(t *testing.T, spec string) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(root, "a", "b"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for p, body := range map[string]string{"root/f": "f", "root/a/b/g": "g", "outside/secret": "secret"} {
		if err := os.WriteFile(filepath.Join(base, p), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(spec, "\n")
	if len(lines) > 16 {
		lines = lines[:16]
	}
	for _, l := range lines {
		name, target, ok := strings.Cut(l, "=")
		name = strings.TrimPrefix(path.Clean("/"+name), "/")
		if !ok || name == "" || len(name) > 64 || len(target) > 128 || strings.ContainsRune(l, 0) {
			continue
		}
		target = strings.ReplaceAll(target, "@O", outside)
		// Create the parents only through real directories: MkdirAll would follow a link out.
		cur, safe := root, true
		for _, c := range strings.Split(path.Dir(name), "/") {
			if c == "." {
				break
			}
			cur = filepath.Join(cur, c)
			fi, err := os.Lstat(cur)
			if errors.Is(err, fs.ErrNotExist) {
				if os.Mkdir(cur, 0o755) != nil {
					safe = false
					break
				}
				continue
			}
			if err != nil || !fi.IsDir() {
				safe = false
				break
			}
		}
		if safe {
			os.Symlink(target, filepath.Join(root, name))
		}
	}
	return root, outside
}

// checkInside fails unless e names root or a path under it whose every component but the last is a
// real directory (so using e.Host cannot leave the root), and the last too when follow.
func checkInside(t *testing.T, root string, e Entry, follow bool) {
	t.Helper()
	if e.Host != root && !strings.HasPrefix(e.Host, root+"/") {
		t.Fatalf("resolved outside the root: %q", e.Host)
	}
	if e.Host != filepath.Join(root, e.Rel) {
		t.Fatalf("Host %q is not root + Rel %q", e.Host, e.Rel)
	}
	cur := root
	parts := strings.Split(e.Rel, "/")
	for i, c := range parts {
		if e.Rel == "" {
			break
		}
		cur = filepath.Join(cur, c)
		fi, err := os.Lstat(cur)
		if err != nil {
			t.Fatalf("%q: %v", cur, err)
		}
		last := i == len(parts)-1
		if fi.Mode()&fs.ModeSymlink != 0 && (!last || follow) {
			t.Fatalf("%q of %q is a symlink", cur, e.Rel)
		}
	}
}

// FuzzResolve: whatever the links and the path, Resolve and Glob only ever name entries inside the
// root, reached without a symlink; where the kernel's openat2(RESOLVE_IN_ROOT) finds a file for a
// path without "..", Resolve finds the same one.
func FuzzResolve(f *testing.F) {
	f.Add("etclink=/etc\nup=../../..\nabs=/\nout=@O", "etclink/hostname", true)
	f.Add("up=../../..", "up/etc/passwd", true)
	f.Add("abs=/", "abs/f", false)
	f.Add("out=@O\nrel=../outside", "rel/secret", true)
	f.Add("l1=l2\nl2=l3\nl3=a/b\nl4=l1/../../f", "l4", true)
	f.Add("loop=loop", "loop/x", true)
	f.Add("a/up=..\na/b/up2=../../..", "a/b/up2/a/up/f", true)
	f.Add("etclink=/etc", "etclink/host*", true)
	f.Add("x=@O", "*/secret", false)
	f.Add("m=missing/../a", "m/b/g", true)
	f.Add("file=f/..", "file/a", true)
	f.Fuzz(func(t *testing.T, spec, query string, follow bool) {
		if len(query) > 256 || strings.ContainsRune(query, 0) {
			return
		}
		root, _ := fuzzTree(t, spec)
		tree := New(root, nil)
		e, err := tree.Resolve(query, follow)
		if err == nil {
			checkInside(t, root, e, follow)
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, ErrTooManyLinks) {
			t.Fatalf("Resolve(%q): unexpected error %v", query, err)
		}
		// The kernel follows a last link when the path ends in "/" or "/."; BuildKit (and Resolve)
		// clean those away first and obey follow.
		trailing := strings.HasSuffix(query, "/") || strings.HasSuffix(query, "/.") || query == "."
		if !strings.Contains(query, "..") && (follow || !trailing) {
			how := unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
			if !follow {
				how.Flags |= unix.O_NOFOLLOW
			}
			rfd, rerr := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if rerr != nil {
				t.Fatal(rerr)
			}
			q := strings.TrimLeft(query, "/")
			if q == "" {
				q = "."
			}
			fd, kerr := unix.Openat2(rfd, q, &how)
			unix.Close(rfd)
			if kerr == nil {
				var kst, ost unix.Stat_t
				unix.Fstat(fd, &kst)
				unix.Close(fd)
				if err != nil {
					t.Fatalf("Resolve(%q): %v, but the kernel finds it in the root", query, err)
				}
				if unix.Lstat(e.Host, &ost) != nil || ost.Ino != kst.Ino || ost.Dev != kst.Dev {
					t.Fatalf("Resolve(%q) = %q, not what the kernel resolves in the root", query, e.Rel)
				}
			}
		}
		matches, err := tree.Glob(query)
		if err != nil {
			return // a bad pattern, a loop
		}
		for _, m := range matches {
			checkInside(t, root, m, false)
		}
	})
}

func TestResolve(t *testing.T) {
	root, outside := fuzzTree(t, "etclink=/etc\nup=../../..\nabs=/\nout=@O\nrel=../outside\ndl=a\ndl2=dl/b\nloop=loop\nhl=/f")
	tree := New(root, nil)
	for _, tc := range []struct {
		p      string
		follow bool
		want   string // "" with err: not found
		err    error
	}{
		{"f", true, "f", nil},
		{"/f", true, "f", nil},
		{"../../f", true, "f", nil},
		{"etclink/hostname", true, "", fs.ErrNotExist},
		{"abs/f", true, "f", nil},
		{"up/f", true, "f", nil},
		{"up/outside/secret", true, "", fs.ErrNotExist},
		{"out/secret", true, "", fs.ErrNotExist},
		{"rel/secret", true, "", fs.ErrNotExist},
		{"dl2/g", true, "a/b/g", nil},
		{"hl", true, "f", nil},
		{"hl", false, "hl", nil},
		{"dl", false, "dl", nil},
		{"loop", true, "", ErrTooManyLinks},
		{"missing/../f", true, "f", nil},
		{"", true, "", nil},
	} {
		e, err := tree.Resolve(tc.p, tc.follow)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Resolve(%q) = %q, %v; want %v", tc.p, e.Rel, err, tc.err)
			}
			continue
		}
		if err != nil || e.Rel != tc.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q", tc.p, e.Rel, err, tc.want)
		}
	}
	_ = outside
	// The hide hook makes entries absent, links included.
	hidden := New(root, func(rel string, fi fs.FileInfo) bool { return rel == "a/b" || rel == "hl" })
	for _, p := range []string{"a/b/g", "dl2/g", "hl"} {
		if _, err := hidden.Resolve(p, true); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("hidden Resolve(%q): %v, want not found", p, err)
		}
	}
	for _, tc := range []struct{ pattern, want string }{
		{"*", "a abs dl dl2 etclink f hl loop out rel up"},
		{"a/*/g", "a/b/g"},
		{"*/b", "a/b"}, // dl is a link: not entered
		{"dl/*", "a/b"},
		{"etclink/*", ""},
		{"out/*", ""},
	} {
		ms, err := tree.Glob(tc.pattern)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range ms {
			got = append(got, m.Rel)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("Glob(%q) = %q, want %q", tc.pattern, got, tc.want)
		}
	}
}
