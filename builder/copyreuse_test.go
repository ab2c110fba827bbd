package builder_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/builder"
)

// TestCopyReuseMatchesFreshCopy: a COPY that runs again because some sources changed hardlinks the
// unchanged files from its earlier result; the image must be byte-identical to a fresh --no-cache
// build of the same context on an empty root (same SOURCE_DATE_EPOCH; source mtimes predate it, so
// they are kept and compared). Each change makes the COPY miss (an mtime-only change would not:
// mtimes are not in the key).
func TestCopyReuseMatchesFreshCopy(t *testing.T) {
	epoch := time.Unix(1700000000, 0).UTC()
	old := time.Unix(1600000000, 123456789)
	dockerfiles := map[string]string{
		"workdir": "FROM busybox\nWORKDIR /srv/app\nCOPY data/ ./\n" +
			"RUN find . -mindepth 1 | sort | xargs stat -c '%n %s %a %u %g %Y' > /listing && find . -type f | sort | xargs md5sum >> /listing\n",
		"chown":    "FROM busybox\nCOPY --chmod=640 --chown=7:8 data/ /opt/data/\n",
		"lowerdir": "FROM busybox\nCOPY data/ /etc/\n",
		"files":    "FROM busybox\nCOPY data/a data/sub/b /dst/\n",
		// ENV changes the parent's key but not its layers: the earlier result is found, and its
		// files are hashed since its record is for another parent.
		"env": "FROM busybox\nENV V=1\nCOPY data/ /d/\n",
	}
	type change = func(t *testing.T, dir string)
	changes := map[string]change{
		"edit": func(t *testing.T, dir string) { write(t, dir, "data/sub/b", "changed", old) },
		"add":  func(t *testing.T, dir string) { write(t, dir, "data/sub/new", "new", old) },
		"remove": func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "data/c")); err != nil {
				t.Fatal(err)
			}
		},
		"chmod": func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "data/sub/b"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		"env+edit": func(t *testing.T, dir string) {
			write(t, dir, "Dockerfile", "FROM busybox\nENV V=2\nCOPY data/ /d/\n", time.Now())
			write(t, dir, "data/sub/b", "changed", old)
		},
	}
	// COPY of two named files misses only when one of them changes; env+edit is for env only.
	only := map[string][]string{"files": {"edit", "chmod"}, "env": {"env+edit", "edit"}}
	linked := regexp.MustCompile(`(\d+) unchanged files linked`)
	for dname, df := range dockerfiles {
		for cname, change := range changes {
			if o, ok := only[dname]; (ok && !slices.Contains(o, cname)) || (!ok && cname == "env+edit") {
				continue
			}
			t.Run(dname+"/"+cname, func(t *testing.T) {
				dir := contextDir(t, df)
				for i := 0; i < 20; i++ {
					write(t, dir, "data/f"+strconv.Itoa(i), "file "+strconv.Itoa(i), old)
				}
				write(t, dir, "data/a", "a", old)
				write(t, dir, "data/c", "c", old)
				write(t, dir, "data/sub/b", "b", old)
				if err := os.Link(filepath.Join(dir, "data/f1"), filepath.Join(dir, "data/f1-link")); err != nil {
					t.Fatal(err)
				}
				b, st := newBuilder(t)
				opts := builder.Options{ContextDir: dir, SourceDateEpoch: &epoch}
				if _, err := b.Build(context.Background(), opts); err != nil {
					t.Fatal(err)
				}
				change(t, dir)
				var log bytes.Buffer
				opts.Progress = &log
				again, err := b.Build(context.Background(), opts)
				if err != nil {
					t.Fatal(err)
				}
				if m := linked.FindStringSubmatch(log.String()); m == nil || m[1] == "0" {
					t.Fatalf("the rebuild linked nothing from the earlier result:\n%s", log.String())
				}
				fresh, fst := newBuilder(t)
				opts.NoCache, opts.Progress = true, nil
				want, err := fresh.Build(context.Background(), opts)
				if err != nil {
					t.Fatal(err)
				}
				if again.Manifest != want.Manifest {
					got, _ := st.Image(again.Manifest)
					exp, _ := fst.Image(want.Manifest)
					gm, _ := got.RawManifest()
					em, _ := exp.RawManifest()
					t.Errorf("rebuild with reused files differs from a fresh build:\n got %s\nwant %s\nlog:\n%s", gm, em, log.String())
				}
			})
		}
	}
}

func write(t *testing.T, dir, name, content string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
