package builder_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
)

// remoteFixture is one repository served over git://, smart HTTP and as a tarball over http, and
// the same tree as a local directory.
type remoteFixture struct {
	root   string
	b      *builder.Builder
	git    *testutil.GitServers
	work   string // the repository's work tree
	local  string // the same files without .git: the local context
	tarSrv *httptest.Server
	tarGz  []byte
	sde    time.Time
}

var remoteFiles = map[string]string{
	"Dockerfile":            "FROM scratch\nCOPY . /app/\n",
	"a.txt":                 "a\n",
	"bin/tool":              "#!/bin/sh\n",
	"sub/Dockerfile":        "FROM scratch\nCOPY . /sub/\n",
	"sub/Dockerfile.alt":    "FROM scratch\nCOPY s.txt /alt\n",
	"sub/s.txt":             "s\n",
	"sub/escape/Dockerfile": "FROM scratch\nCOPY passwd /p\n",
	"sub/hostetc":           "->/etc",
	"sub/escape/passwd":     "->/etc/passwd",
	"sub/up":                "->../../../../../../../../etc",
}

func newRemoteFixture(t *testing.T) *remoteFixture {
	t.Helper()
	prereq.Require(t, prereq.Root)
	root, st := testutil.NewRoot(t)
	b, err := builder.New(root, st)
	if err != nil {
		t.Fatal(err)
	}
	f := &remoteFixture{root: root, b: b, git: testutil.NewGitServers(t), work: t.TempDir(), sde: time.Unix(1000000000, 0).UTC()}
	f.local = t.TempDir()
	for _, d := range []string{f.work, f.local} {
		testutil.WriteFiles(t, d, remoteFiles)
		if err := os.Chmod(filepath.Join(d, "bin/tool"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Git(t, f.work, "init", "-q", "-b", "main")
	testutil.Git(t, f.work, "add", "-A")
	testutil.Git(t, f.work, "commit", "-q", "-m", "one")
	testutil.Git(t, f.work, "tag", "light")
	testutil.Git(t, f.work, "tag", "-a", "annotated", "-m", "annotated")
	f.git.Publish(t, f.work, "repo")
	f.tarGz = tarGz(t, f.work)
	f.tarSrv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ctx.tar.gz":
			w.Write(f.tarGz)
		case "/Dockerfile":
			w.Write([]byte("FROM scratch\nCOPY context /c\n"))
		case "/notatar.gz":
			zw := gzip.NewWriter(w)
			zw.Write([]byte("this is not a tar archive\n"))
			zw.Close()
		case "/big":
			w.Write(bytes.Repeat([]byte("x"), 1<<20))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.tarSrv.Close)
	return f
}

// tarGz archives dir's files (not .git) as `tar czf - .` would.
func tarGz(t *testing.T, dir string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".git" {
			return filepath.SkipDir
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		link, _ := os.Readlink(p)
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func (f *remoteFixture) build(t *testing.T, o builder.Options) (*builder.Result, string, error) {
	t.Helper()
	var log bytes.Buffer
	o.Progress = &log
	if o.SourceDateEpoch == nil {
		o.SourceDateEpoch = &f.sde
	}
	res, err := f.b.Build(context.Background(), o)
	return res, log.String(), err
}

func (f *remoteFixture) mustBuild(t *testing.T, o builder.Options) *builder.Result {
	t.Helper()
	res, log, err := f.build(t, o)
	if err != nil {
		t.Fatalf("build %+v: %v\n%s", o.ContextURL, err, log)
	}
	return res
}

// TestRemoteContextsSameImage: a git URL (git daemon and smart HTTP), a tarball URL and a tar on
// stdin give the image the local directory gives, digest for digest (SOURCE_DATE_EPOCH); a
// Dockerfile-only context (stdin, http text) equals the
// same Dockerfile over an empty (or one-file) local context.
func TestRemoteContextsSameImage(t *testing.T) {
	f := newRemoteFixture(t)
	want := f.mustBuild(t, builder.Options{ContextDir: f.local}).Manifest
	for name, o := range map[string]builder.Options{
		"git daemon":     {ContextURL: f.git.Daemon + "/repo.git"},
		"git smart http": {ContextURL: f.git.HTTP + "/repo.git#main"},
		"tarball url":    {ContextURL: f.tarSrv.URL + "/ctx.tar.gz"},
		"stdin tar":      {ContextReader: bytes.NewReader(f.tarGz)},
	} {
		if got := f.mustBuild(t, o).Manifest; got != want {
			t.Errorf("%s: image %s, the local directory's is %s", name, got, want)
		}
	}
	// The subdir is the context and a relative -f is inside it.
	wantSub := f.mustBuild(t, builder.Options{ContextDir: filepath.Join(f.local, "sub"), Dockerfile: filepath.Join(f.local, "sub", "Dockerfile.alt")}).Manifest
	if got := f.mustBuild(t, builder.Options{ContextURL: f.git.Daemon + "/repo.git#main:sub", Dockerfile: "Dockerfile.alt"}).Manifest; got != wantSub {
		t.Errorf("#main:sub -f Dockerfile.alt: image %s, want %s", got, wantSub)
	}

	df := "FROM scratch\nLABEL from=stdin\n"
	empty := t.TempDir()
	dfFile := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(dfFile, []byte(df), 0o644)
	wantDF := f.mustBuild(t, builder.Options{ContextDir: empty, Dockerfile: dfFile}).Manifest
	if got := f.mustBuild(t, builder.Options{ContextReader: strings.NewReader(df)}).Manifest; got != wantDF {
		t.Errorf("Dockerfile on stdin: image %s, want %s", got, wantDF)
	}
	// An http context that is not an archive is the Dockerfile, kept in the context as "context".
	one := t.TempDir()
	os.WriteFile(filepath.Join(one, "context"), []byte("FROM scratch\nCOPY context /c\n"), 0o600)
	os.Chtimes(filepath.Join(one, "context"), time.Now(), time.Now())
	wantHTTP := f.mustBuild(t, builder.Options{ContextDir: one, Dockerfile: filepath.Join(one, "context")}).Manifest
	if got := f.mustBuild(t, builder.Options{ContextURL: f.tarSrv.URL + "/Dockerfile"}).Manifest; got != wantHTTP {
		t.Errorf("Dockerfile over http: image %s, want %s", got, wantHTTP)
	}
	if n := entries(t, filepath.Join(f.root, "builds")); len(n) != 0 {
		t.Errorf("build dirs left: %v", n)
	}
}

// TestGitContextRefs: a branch, a lightweight and an annotated tag and a commit select the same
// tree; a later commit on the branch is seen; the symlinks of the repository (to /etc, to
// /etc/passwd, climbing ..) resolve inside the context, never on the host.
func TestGitContextRefs(t *testing.T) {
	f := newRemoteFixture(t)
	commit := testutil.Git(t, f.work, "rev-parse", "HEAD")
	want := f.mustBuild(t, builder.Options{ContextDir: filepath.Join(f.local, "sub")}).Manifest
	for _, ref := range []string{"main", "light", "annotated", "refs/heads/main", commit} {
		got := f.mustBuild(t, builder.Options{ContextURL: f.git.Daemon + "/repo.git#" + ref + ":sub"}).Manifest
		if got != want {
			t.Errorf("#%s:sub: image %s, want %s", ref, got, want)
		}
	}
	// As in BuildKit, a remote context's .dockerignore is not applied.
	testutil.WriteFiles(t, f.work, map[string]string{"sub/new.txt": "new\n", "sub/.dockerignore": "new.txt\n",
		"sub/Dockerfile.ignore": "FROM scratch\nCOPY new.txt /n\n"})
	testutil.Git(t, f.work, "add", "-A")
	testutil.Git(t, f.work, "commit", "-q", "-m", "two")
	f.git.Publish(t, f.work, "repo")
	if got := f.mustBuild(t, builder.Options{ContextURL: f.git.HTTP + "/repo.git#main:sub"}).Manifest; got == want {
		t.Errorf("a new commit on main did not change the image")
	}
	f.mustBuild(t, builder.Options{ContextURL: f.git.HTTP + "/repo.git#main:sub", Dockerfile: "Dockerfile.ignore"})
	if got := f.mustBuild(t, builder.Options{ContextURL: f.git.HTTP + "/repo.git#light:sub"}).Manifest; got != want {
		t.Errorf("the tag moved with the branch")
	}

	// sub/escape/passwd -> /etc/passwd is the context's etc/passwd (absent): not the host's.
	_, log, err := f.build(t, builder.Options{ContextURL: f.git.Daemon + "/repo.git#main:sub", Dockerfile: "escape/Dockerfile"})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("COPY through a symlink out of the git context: %v\n%s", err, log)
	}
	for _, df := range []string{"hostetc/passwd", "up/passwd"} {
		_, _, err := f.build(t, builder.Options{ContextURL: f.git.Daemon + "/repo.git#main:sub", Dockerfile: df})
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("-f %s read outside the git context: %v", df, err)
		}
	}
	// A subdir that is a symlink is refused, as BuildKit does.
	for _, sub := range []string{"sub/hostetc", "sub/up"} {
		_, _, err := f.build(t, builder.Options{ContextURL: f.git.Daemon + "/repo.git#main:" + sub})
		if err == nil || !strings.Contains(err.Error(), sub) {
			t.Errorf("#main:%s: %v, want an error naming the subdir", sub, err)
		}
	}
}

// TestRemoteBadInput: each bad remote context or remote ADD fails with one error naming the context
// or the instruction, and leaves nothing in the store, the cache or the scratch dirs.
func TestRemoteBadInput(t *testing.T) {
	f := newRemoteFixture(t)
	before := listing(t, f.root)
	sum := sha256.Sum256([]byte("FROM scratch\nCOPY context /c\n"))
	good := "sha256:" + hex.EncodeToString(sum[:])
	addCtx := func(df string) string { return contextDir(t, df) }
	for _, tc := range []struct {
		name string
		o    builder.Options
		want []string
	}{
		{"unreachable git host", builder.Options{ContextURL: "git://127.0.0.1:1/repo.git"}, []string{"build context git://127.0.0.1:1/repo.git", "refused"}},
		{"unreachable https git host", builder.Options{ContextURL: "https://127.0.0.1:1/repo.git#main"}, []string{"build context https://127.0.0.1:1/repo.git#main"}},
		{"missing ref", builder.Options{ContextURL: f.git.Daemon + "/repo.git#nosuchref"}, []string{"build context", "nosuchref"}},
		{"missing repository", builder.Options{ContextURL: f.git.HTTP + "/nothere.git"}, []string{"build context", "nothere.git"}},
		{"missing subdir", builder.Options{ContextURL: f.git.Daemon + "/repo.git#main:nosuchdir"}, []string{"build context", `"nosuchdir" not found`}},
		{"non-tar body", builder.Options{ContextURL: f.tarSrv.URL + "/notatar.gz"}, []string{"build context " + f.tarSrv.URL + "/notatar.gz", "extracting"}},
		{"http 404", builder.Options{ContextURL: f.tarSrv.URL + "/missing.tar"}, []string{"build context", "404"}},
		{"oversize context", builder.Options{ContextURL: f.tarSrv.URL + "/big", MaxDownloadSize: 1000}, []string{"build context", "size limit"}},
		{"stdin both", builder.Options{ContextReader: strings.NewReader("FROM scratch\n"), Dockerfile: "Dockerfile"}, []string{"build context -", "ambiguous"}},
		{"checksum mismatch", builder.Options{ContextDir: addCtx("FROM scratch\nADD --checksum=sha256:" + strings.Repeat("0", 64) + " " + f.tarSrv.URL + "/Dockerfile /d\n")},
			[]string{"Dockerfile:2", "digest mismatch", good}},
		{"oversize ADD", builder.Options{ContextDir: addCtx("FROM scratch\nADD " + f.tarSrv.URL + "/big /d\n"), MaxDownloadSize: 1000},
			[]string{"Dockerfile:2", "ADD " + f.tarSrv.URL + "/big", "size limit"}},
		{"ADD git missing ref", builder.Options{ContextDir: addCtx("FROM scratch\nADD " + f.git.Daemon + "/repo.git#nosuchref /g/\n")},
			[]string{"Dockerfile:2", "nosuchref"}},
		{"ADD git wrong commit", builder.Options{ContextDir: addCtx("FROM scratch\nADD --checksum=0123456789abcdef " + f.git.Daemon + "/repo.git#main /g/\n")},
			[]string{"Dockerfile:2", "expected checksum to match 0123456789abcdef"}},
		{"fetch-by-commit without a checksum", builder.Options{ContextURL: f.git.Daemon + "/repo.git?ref=main&fetch-by-commit=true"},
			[]string{"build context", "fetch-by-commit requires a checksum"}},
		{"fetch-by-commit with a short checksum", builder.Options{ContextDir: addCtx("FROM scratch\nADD --checksum=0123456789abcdef " + f.git.Daemon + "/repo.git?fetch-by-commit=true /g/\n")},
			[]string{"Dockerfile:2", "fetch-by-commit requires a full commit SHA checksum"}},
		{"fetch-by-commit of a commit the server does not have", builder.Options{ContextURL: f.git.Daemon + "/repo.git?ref=main&fetch-by-commit=true&checksum=" + strings.Repeat("0", 40)},
			[]string{"build context", strings.Repeat("0", 40)}},
		{"bad mtime", builder.Options{ContextURL: f.git.Daemon + "/repo.git?mtime=now"},
			[]string{"build context", "mtime"}},
		{"COPY of a git URL", builder.Options{ContextDir: addCtx("FROM scratch\nCOPY " + f.git.Daemon + "/repo.git /g/\n")},
			[]string{"Dockerfile:2", "git ref for COPY"}},
		{"checksum of a local file", builder.Options{ContextDir: addCtx("FROM scratch\nADD --checksum=" + good + " Dockerfile /d\n")},
			[]string{"Dockerfile:2", "checksum requires HTTP(S) or Git sources"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, log, err := f.build(t, tc.o)
			if err == nil {
				t.Fatalf("build succeeded\n%s", log)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after := listing(t, f.root); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("the root changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestAddGit: ADD of a git URL copies the tree at the ref (a subdir's contents with #ref:sub), with
// .git only with --keep-git-dir; it is keyed by the resolved commit (a rebuild is cached, a new
// commit is not) and ADD --checksum pins the commit.
func TestAddGit(t *testing.T) {
	f := newRemoteFixture(t)
	commit := testutil.Git(t, f.work, "rev-parse", "HEAD")
	url := f.git.Daemon + "/repo.git"
	df := "FROM busybox\nADD " + url + "#annotated:sub /g/\nADD --keep-git-dir " + url + "#main /k/\n" +
		"ADD --checksum=" + commit[:12] + " " + f.git.HTTP + "/repo.git#light /c/\n" +
		"RUN test \"$(cat /g/s.txt)\" = s && test ! -e /g/.git && test -d /k/.git && test -x /c/bin/tool && test -e /c/a.txt\n"
	dir := contextDir(t, df)
	first, log, err := f.build(t, builder.Options{ContextDir: dir})
	if err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	second, log, err := f.build(t, builder.Options{ContextDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if second.Manifest != first.Manifest || strings.Contains(log, "fetching git source") {
		t.Errorf("rebuild was not fully cached (or fetched the repository):\n%s", log)
	}
	testutil.WriteFiles(t, f.work, map[string]string{"sub/s.txt": "s2\n"})
	testutil.Git(t, f.work, "commit", "-q", "-am", "two")
	f.git.Publish(t, f.work, "repo")
	// /g/ comes from the tag (unchanged), /k/ from main, which moved.
	if _, log, err = f.build(t, builder.Options{ContextDir: dir}); err != nil {
		t.Fatalf("%v\n%s", err, log)
	}
	if !strings.Contains(log, "STEP 3/5: cache miss") || strings.Contains(log, "STEP 2/5: cache miss") {
		t.Errorf("want ADD #annotated cached and ADD #main re-run after a commit on main:\n%s", log)
	}
}

// TestAddURLKeyedByContent: ADD of a URL without --checksum is keyed by what it downloads, so a
// changed file is fetched again; with --checksum nothing is fetched on a cache hit.
func TestAddURLKeyedByContent(t *testing.T) {
	b, _ := newBuilder(t)
	var body atomic.Value
	body.Store("one\n")
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Write([]byte(body.Load().(string)))
	}))
	defer srv.Close()
	sde := time.Unix(1000000000, 0)
	dir := contextDir(t, "FROM scratch\nADD "+srv.URL+"/f.txt /f.txt\n")
	build := func() string {
		res, err := b.Build(context.Background(), builder.Options{ContextDir: dir, SourceDateEpoch: &sde})
		if err != nil {
			t.Fatal(err)
		}
		return res.Manifest.String()
	}
	a, a2 := build(), build()
	body.Store("two\n")
	if c := build(); a != a2 || c == a {
		t.Errorf("same content must give the same image (%v) and new content a new one (%v)", a == a2, c != a)
	}
	sum := sha256.Sum256([]byte("two\n"))
	dir = contextDir(t, "FROM scratch\nADD --checksum=sha256:"+hex.EncodeToString(sum[:])+" "+srv.URL+"/g.txt /g.txt\n")
	build()
	n := gets.Load()
	build()
	if gets.Load() != n {
		t.Errorf("a cached ADD --checksum downloaded the file again")
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, _ := os.ReadDir(dir)
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// listing is every file under root (the store, the cache, snapshots, scratch), locks aside.
func listing(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		// cache/contexts is the local context's stat cache, kept even when a build fails.
		rel, _ := filepath.Rel(root, p)
		if err == nil && !strings.HasSuffix(p, ".lock") && !strings.HasPrefix(rel, "cache/contexts") {
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestTarContextKeepsOwners: COPY from a tar context keeps the archive's owners (BuildKit's copy
// from an http or stdin tar context, corpus 97 and 99), so the owners are part of the COPY's key: two
// archives that differ only in an owner must not share a cached layer.
func TestTarContextKeepsOwners(t *testing.T) {
	b, _ := newBuilder(t)
	ctxTar := func(uid int) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		df := "FROM scratch\nCOPY f /f\n"
		tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(df)), Typeflag: tar.TypeReg})
		tw.Write([]byte(df))
		tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 2, Uid: uid, Gid: uid + 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("f\n"))
		tw.Close()
		return buf.Bytes()
	}
	sde := time.Unix(1000000000, 0)
	images := map[int]string{}
	for _, uid := range []int{0, 1000, 0} {
		res, err := b.Build(context.Background(), builder.Options{ContextReader: bytes.NewReader(ctxTar(uid)), SourceDateEpoch: &sde})
		if err != nil {
			t.Fatal(err)
		}
		if prev, ok := images[uid]; ok && prev != res.Manifest.String() {
			t.Errorf("uid %d: a rebuild gave another image", uid)
		}
		images[uid] = res.Manifest.String()
	}
	if images[0] == images[1000] {
		t.Errorf("archives that differ in a file's owner gave the same image")
	}
}
