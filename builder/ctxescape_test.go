package builder_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/store"
)

// escapeContext is a build context full of symlinks that point out of it, next to a directory outside
// it holding a file with a unique marker.
type escapeContext struct {
	dir     string // the context
	outside string // outside the context: secret (the marker), Dockerfile, ignore
	marker  string
}

func newEscapeContext(t *testing.T) escapeContext {
	t.Helper()
	var b [8]byte
	rand.Read(b[:])
	ec := escapeContext{dir: t.TempDir(), outside: t.TempDir(), marker: "hoist-leak-" + hex.EncodeToString(b[:])}
	write := func(p, body string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(ec.outside, "secret"), ec.marker+"\n")
	write(filepath.Join(ec.outside, "Dockerfile"), "FROM busybox\nLABEL leak="+ec.marker+"\n")
	write(filepath.Join(ec.outside, "ignore"), "keep\n")
	write(filepath.Join(ec.dir, "d", "x"), "dfile\n")
	write(filepath.Join(ec.dir, "keep"), "kept\n")
	relOut, err := filepath.Rel(ec.dir, ec.outside)
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"etclink": "/etc",
		"up":      "../../..",
		"abs":     "/",
		"hlink":   "/etc/hostname",
		"mlink":   ec.outside,
		"mrel":    relOut,
		"mfile":   filepath.Join(ec.outside, "secret"),
		"dl1":     "d",
		"dl2":     "dl1",
		"chain1":  "chain2/../mlink", // a chain through a relative hop to an absolute link
		"chain2":  "d",
		"loop1":   "loop2",
		"loop2":   "loop1",
		// The Dockerfile and .dockerignore themselves may be links.
		"Dockerfile.link": filepath.Join(ec.outside, "Dockerfile"),
	} {
		if err := os.Symlink(target, filepath.Join(ec.dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	return ec
}

// hostHostname is the host's /etc/hostname, which must never reach an image.
func hostHostname(t *testing.T) string {
	data, err := os.ReadFile("/etc/hostname")
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return ""
	}
	return string(data)
}

// escapeProbes are Dockerfile bodies (after "FROM busybox\n") that try to read outside the context
// through its links. Each must fail: the paths resolve inside the context, where nothing is; a
// wildcard that matches nothing there (empty) builds, as in BuildKit, and copies nothing.
var escapeProbes = []struct {
	name, body string
	empty      bool
}{
	{"etclink", "COPY etclink/hostname /x", false},
	{"abs", "COPY abs/etc/passwd /x", false},
	{"up", "COPY up/etc/passwd /x", false},
	{"wildcard", "COPY etclink/host* /x/", true},
	{"wildcard through a linked dir", "COPY */secret /x/", true},
	{"add", "ADD etclink/hostname /x", false},
	{"link as source", "COPY hlink /x", false},
	{"absolute link to a dir", "COPY mlink/secret /x", false},
	{"relative link to a dir", "COPY mrel/secret /x", false},
	{"link to a file", "COPY mfile /x", false},
	{"dir of a link", "COPY mlink /x/", false},
	{"chain", "COPY chain1/secret /x", false},
	{"loop", "COPY loop1 /x", false},
	{"bind mount", "RUN --mount=type=bind,source=etclink,target=/m cat /m/hostname > /out", false},
	{"bind mount of a linked dir", "RUN --mount=type=bind,source=mlink,target=/m cat /m/secret > /out", false},
	{"rw bind mount of a linked dir", "RUN --mount=type=bind,source=mlink,target=/m,rw cat /m/secret > /out", false},
	{"parents through a link", "COPY --parents mlink/./secret /x/", false},
	{"parents through /etc", "COPY --parents etclink/./hostname /x/", false},
	{"exclude on a linked dir", "COPY --exclude=nothing mlink/ /x/", false},
}

// TestBindRWStaysInBuild: RUN --mount=type=bind,rw writes go to a throw-away layer: the attack
// rewrites, deletes and adds files through the mount, and writes through a link in the context that
// points out of it; afterwards the context and the directory outside it are as they were.
func TestBindRWStaysInBuild(t *testing.T) {
	b, _ := newBuilder(t)
	ec := newEscapeContext(t)
	run := "RUN --mount=type=bind,source=.,target=/ctx,rw sh -c '" +
		"echo pwned > /ctx/keep; rm -f /ctx/d/x; ln -s /etc /ctx/newlink; echo pwned > /ctx/mlink/secret 2>/dev/null; " +
		"echo pwned > /ctx/mfile 2>/dev/null; true'"
	var log bytes.Buffer
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: ec.dir, Progress: &log,
		DockerfileData: []byte("FROM busybox\n" + run + "\n")}); err != nil {
		t.Fatalf("build: %v\n%s", err, log.String())
	}
	for p, want := range map[string]string{
		filepath.Join(ec.dir, "keep"):       "kept\n",
		filepath.Join(ec.dir, "d", "x"):     "dfile\n",
		filepath.Join(ec.outside, "secret"): ec.marker + "\n",
	} {
		if got, err := os.ReadFile(p); err != nil || string(got) != want {
			t.Errorf("%s after the build: %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(ec.dir, "newlink")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a link made through the rw mount reached the context: %v", err)
	}
}

// TestContextSymlinksStayInside: every probe fails with a not-found error naming its line, and
// whatever built never holds the marker or the host's hostname.
func TestContextSymlinksStayInside(t *testing.T) {
	b, st := newBuilder(t)
	ec := newEscapeContext(t)
	for _, p := range escapeProbes {
		t.Run(p.name, func(t *testing.T) {
			var log bytes.Buffer
			res, err := b.Build(context.Background(), builder.Options{ContextDir: ec.dir, Progress: &log,
				DockerfileData: []byte("FROM busybox\n" + p.body + "\n")})
			if err == nil {
				files := checkNoLeak(t, st, res, ec.marker)
				if p.empty && len(files) == 0 {
					return
				}
				t.Fatalf("%s: built (%d files), want a not-found error or nothing copied", p.body, len(files))
			}
			msg := err.Error()
			if !strings.Contains(msg, "Dockerfile:2") ||
				!(strings.Contains(msg, "not found") || strings.Contains(msg, "no source files") || strings.Contains(msg, "too many")) {
				t.Errorf("%s: error %q, want a not-found error naming Dockerfile:2", p.body, msg)
			}
			if strings.Contains(msg+log.String(), ec.marker) {
				t.Errorf("the marker reached the build output: %s", msg)
			}
		})
	}

	// The Dockerfile named with -f inside the context is resolved inside it too.
	for _, df := range []string{filepath.Join(ec.dir, "mlink", "Dockerfile"), filepath.Join(ec.dir, "Dockerfile.link"),
		filepath.Join(ec.dir, "etclink", "hostname")} {
		_, err := b.Build(context.Background(), builder.Options{ContextDir: ec.dir, Dockerfile: df})
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			t.Errorf("-f %s: %v, want not found", df, err)
		}
	}
	// The default Dockerfile as a link out of the context.
	if err := os.Symlink(filepath.Join(ec.outside, "Dockerfile"), filepath.Join(ec.dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Build(context.Background(), builder.Options{ContextDir: ec.dir}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("CONTEXT/Dockerfile -> outside: %v, want not found", err)
	}
	// A .dockerignore that is a link out of the context is not read (it would exclude "keep").
	if err := os.Symlink(filepath.Join(ec.outside, "ignore"), filepath.Join(ec.dir, ".dockerignore")); err != nil {
		t.Fatal(err)
	}
	res, err := b.Build(context.Background(), builder.Options{ContextDir: ec.dir,
		DockerfileData: []byte("FROM busybox\nCOPY keep /keep\n")})
	if err != nil {
		t.Errorf(".dockerignore -> outside was read: %v", err)
	} else {
		checkNoLeak(t, st, res, ec.marker)
	}
}

// TestContextSymlinksResolveInside: where the link's target exists inside the context, the context's
// file is what is copied (BuildKit's semantics), never the host's; "../" is clamped at the root.
func TestContextSymlinksResolveInside(t *testing.T) {
	b, st := newBuilder(t)
	ec := newEscapeContext(t)
	for p, body := range map[string]string{"etc/hostname": "ctx-hostname\n", "etc/passwd": "ctx-passwd\n",
		ec.outside[1:] + "/secret": "ctx-secret\n", "ign/hostname": "ignored\n"} {
		p = filepath.Join(ec.dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("ign", filepath.Join(ec.dir, "ignlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ec.dir, ".dockerignore"), []byte("ign/hostname\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		body  string
		files map[string]string // image path → content; "" = must not exist
	}{
		{"COPY etclink/hostname /x", map[string]string{"/x": "ctx-hostname\n"}},
		// docker 20.10's BuildKit answers "not found" for these two; current BuildKit (v0.32,
		// contenthash's getFollowLinks) resolves them to the context's etc/passwd, as here.
		{"COPY abs/etc/passwd /x", map[string]string{"/x": "ctx-passwd\n"}},
		{"COPY up/etc/passwd /x", map[string]string{"/x": "ctx-passwd\n"}},
		{"COPY etclink/host* /x/", map[string]string{"/x/hostname": "ctx-hostname\n"}},
		{"ADD etclink/hostname /x", map[string]string{"/x": "ctx-hostname\n"}},
		{"COPY hlink /x", map[string]string{"/x": "ctx-hostname\n"}},
		{"COPY hlink /d/", map[string]string{"/d/hlink": "ctx-hostname\n"}}, // named after the link
		{"COPY mlink/secret /x", map[string]string{"/x": "ctx-secret\n"}},
		{"COPY mfile /x", map[string]string{"/x": "ctx-secret\n"}},
		{"COPY chain1/secret /x", map[string]string{"/x": "ctx-secret\n"}},
		{"COPY dl2/x /x", map[string]string{"/x": "dfile\n"}},
		{"COPY dl2 /dd/", map[string]string{"/dd/x": "dfile\n"}}, // a linked dir's contents
		{"COPY ../d/x /y", map[string]string{"/y": "dfile\n"}},
		{"COPY ../../../../etc/hostname /y", map[string]string{"/y": "ctx-hostname\n"}},
		{"RUN --mount=type=bind,source=etclink,target=/m cat /m/hostname > /out", map[string]string{"/out": "ctx-hostname\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			var log bytes.Buffer
			res, err := b.Build(context.Background(), builder.Options{ContextDir: ec.dir, Progress: &log,
				DockerfileData: []byte("FROM busybox\n" + tc.body + "\n")})
			if err != nil {
				t.Fatalf("%v\n%s", err, log.String())
			}
			files := checkNoLeak(t, st, res, ec.marker)
			for p, want := range tc.files {
				if got := files[strings.TrimPrefix(p, "/")]; got != want {
					t.Errorf("%s = %q, want %q", p, got, want)
				}
			}
		})
	}
	// .dockerignore applies to where a path resolves to: ign/hostname is excluded, so is it through
	// a link (BuildKit's context holds no ign/hostname to find).
	// The wildcard matches nothing then, which builds and copies nothing (BuildKit).
	for _, body := range []string{"COPY ignlink/hostname /x", "COPY ign/hostname /x", "COPY ignlink/h* /x/"} {
		res, err := b.Build(context.Background(), builder.Options{ContextDir: ec.dir,
			DockerfileData: []byte("FROM busybox\n" + body + "\n")})
		if err == nil && (!strings.Contains(body, "*") || len(checkNoLeak(t, st, res, ec.marker)) != 0) {
			t.Errorf("%s: built, but ign/hostname is excluded by .dockerignore", body)
		}
	}
}

// checkNoLeak reads every layer the build added and fails if a file holds the marker or is the host's
// /etc/hostname; it returns the added files' contents by path.
func checkNoLeak(t *testing.T, st *store.Store, res *builder.Result, marker string) map[string]string {
	t.Helper()
	img, err := st.Image(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	base, err := testutil.BusyboxImage("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	baseLayers, _ := base.Layers()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	host := hostHostname(t)
	files := map[string]string{}
	for _, l := range layers[len(baseLayers):] {
		for name, body := range layerFiles(t, l) {
			files[name] = body
			if strings.Contains(body, marker) {
				t.Errorf("the marker outside the context reached the image: %s", name)
			}
			if host != "" && body == host {
				t.Errorf("the host's /etc/hostname reached the image: %s", name)
			}
		}
	}
	return files
}

func layerFiles(t *testing.T, l v1.Layer) map[string]string {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			body, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[strings.TrimPrefix(hdr.Name, "./")] = string(body)
		}
	}
}

// TestDockerContextSymlinksStayInside runs the same probes under docker's BuildKit (the reference
// environment's dockerd 20.10), to show they are real: docker refuses every one of them too.
func TestDockerContextSymlinksStayInside(t *testing.T) {
	const docker = "/usr/bin/docker"
	prereq.Require(t, prereq.Docker) // dockerd 20.10 with BuildKit
	ec := newEscapeContext(t)
	host := hostHostname(t)
	run := func(t *testing.T, dockerfile string, extra ...string) (string, error) {
		t.Helper()
		df := filepath.Join(t.TempDir(), "Dockerfile")
		if err := os.WriteFile(df, []byte(dockerfile), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"build", "--network", "host", "--progress", "plain", "--no-cache", "-f", df}, extra...)
		cmd := exec.Command(docker, append(args, ec.dir)...)
		cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, p := range escapeProbes {
		if strings.Contains(p.body, "--parents") || strings.Contains(p.body, "--exclude") {
			// docker 20.10's BuildKit has no COPY --parents/--exclude: it can only refuse the flag,
			// which proves nothing about the path. TestContextSymlinksStayInside runs them on hoist.
			continue
		}
		t.Run(p.name, func(t *testing.T) {
			// A RUN after the probe prints what the image holds, had the copy worked.
			out, err := run(t, "FROM busybox:latest\n"+p.body+"\nRUN cat /x /x/* /out 2>/dev/null; true\n")
			if strings.Contains(out, ec.marker) || (host != "" && strings.Contains(out, " "+strings.TrimSpace(host)+"\n")) {
				t.Errorf("docker leaked the host file through %q", p.body)
			}
			if err == nil && strings.Contains(p.body, "*") {
				return // BuildKit lets a wildcard match nothing (hoist refuses a COPY left with no source)
			}
			if err == nil {
				t.Errorf("docker built %q; want a failure\n%s", p.body, out)
			}
			if !strings.Contains(out, "not found") && !strings.Contains(out, "no such file") &&
				!strings.Contains(out, "no matches") && !strings.Contains(out, "too many") {
				t.Errorf("docker failed %q without a not-found error:\n%s", p.body, lastLines(out, 5))
			}
		})
	}
	// The default Dockerfile as a link out of the context: docker reads it from its copy of the
	// context, where the link's target is missing.
	if err := os.Symlink(filepath.Join(ec.outside, "Dockerfile"), filepath.Join(ec.dir, "Dockerfile")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(docker, "build", "--network", "host", "--progress", "plain", "--no-cache", ec.dir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no such file") {
		t.Errorf("docker read CONTEXT/Dockerfile -> outside: %v\n%s", err, lastLines(string(out), 5))
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestNamedContextSymlinksStayInside: a --build-context directory full of links out of it is read
// as its own files (one layer, links kept as links): COPY --from, RUN --mount from= and FROM the
// context resolve those links inside it, never on the host. The attack reads the marker file outside
// the directory through each kind of link; every probe must fail or copy nothing, and no image may
// hold the marker.
func TestNamedContextSymlinksStayInside(t *testing.T) {
	b, st := newBuilder(t)
	ec := newEscapeContext(t)
	key, nc, err := builder.ParseBuildContext("ctx=" + ec.dir)
	if err != nil {
		t.Fatal(err)
	}
	probes := []string{
		"FROM busybox\nCOPY --from=ctx etclink/hostname /x\n",
		"FROM busybox\nCOPY --from=ctx mlink/secret /x\n",
		"FROM busybox\nCOPY --from=ctx mrel/secret /x\n",
		"FROM busybox\nCOPY --from=ctx mfile /x\n",
		"FROM busybox\nCOPY --from=ctx chain1/secret /x\n",
		"FROM busybox\nRUN --mount=from=ctx,source=mlink,target=/m cat /m/secret > /out\n",
		"FROM busybox\nRUN --mount=from=ctx,source=etclink,target=/m cat /m/hostname > /out\n",
		"FROM ctx\nCOPY --from=busybox /bin/busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox cat /mlink/secret /mfile > /out\"]\n",
	}
	for i, df := range probes {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var log bytes.Buffer
			res, err := b.Build(context.Background(), builder.Options{ContextDir: t.TempDir(), Progress: &log,
				DockerfileData: []byte(df), NamedContexts: map[string]builder.NamedContext{key: nc}})
			if strings.Contains(log.String(), ec.marker) {
				t.Errorf("the marker reached the build output:\n%s", log.String())
			}
			if err != nil {
				msg := err.Error() + log.String()
				if strings.Contains(err.Error(), ec.marker) {
					t.Errorf("the marker reached the error: %v", err)
				}
				// Refused because the link resolved inside the context, where nothing is.
				if !strings.Contains(msg, "not found") && !strings.Contains(msg, "No such file") {
					t.Errorf("refused for another reason: %v\n%s", err, log.String())
				}
				return
			}
			checkNoLeak(t, st, res, ec.marker)
		})
	}
	// The control: the context is really used (a plain file of it is copied).
	res, err := b.Build(context.Background(), builder.Options{ContextDir: t.TempDir(),
		DockerfileData: []byte("FROM busybox\nCOPY --from=ctx keep /keep\n"), NamedContexts: map[string]builder.NamedContext{key: nc}})
	if err != nil {
		t.Fatalf("COPY --from of the named context: %v", err)
	}
	if files := checkNoLeak(t, st, res, ec.marker); files["keep"] != "kept\n" {
		t.Errorf("COPY --from=ctx keep: %q", files["keep"])
	}
}

// TestCopyDestinationLinksStayInRootfs: the attack is a base whose destination paths are symlinks to
// an absolute host path H (a dir, a file, a dir above a tree); a COPY of a context tree onto them
// must write inside the rootfs only, through every path the copy takes (the directories it creates
// and knows to be empty, the parents it already visited, the files copied on every core, a second
// build that reuses the first one's files). H stays empty. The control copies the same tree over the
// same links with the host's cp, which does write into H: the links are real.
func TestCopyDestinationLinksStayInRootfs(t *testing.T) {
	b, st := newBuilder(t)
	hostDir := t.TempDir() // H, on the host
	ctx := t.TempDir()
	for p, body := range map[string]string{"tree/sub/inner": "inner\n", "tree/f": "f\n", "tree/deep/a/b/x": "x\n"} {
		p = filepath.Join(ctx, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	df := "FROM busybox\n" +
		"RUN mkdir -p /app && ln -s " + hostDir + " /app/sub && ln -s " + hostDir + "/f /app/f && ln -s " + hostDir + " /app/deep\n" +
		"COPY tree/ /app/\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, opts := range []builder.Options{{ContextDir: ctx}, {ContextDir: ctx}} {
		if i == 1 { // the second build copies again, reusing the first one's files where it can
			if err := os.WriteFile(filepath.Join(ctx, "tree/sub/inner"), []byte("inner 2\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var log bytes.Buffer
		opts.Progress = &log
		res, err := b.Build(context.Background(), opts)
		if err != nil {
			t.Fatalf("build %d: %v\n%s", i, err, log.String())
		}
		if left, _ := os.ReadDir(hostDir); len(left) > 0 {
			t.Fatalf("build %d wrote through the image's links into the host's %s: %v", i, hostDir, left)
		}
		files := checkNoLeak(t, st, res, "no-such-marker")
		for p, want := range map[string]string{"app/f": "f\n", "app/deep/a/b/x": "x\n"} {
			if files[p] != want {
				t.Errorf("build %d: %s = %q, want %q", i, p, files[p], want)
			}
		}
	}
	// Control: a naive copy over the same links lands in H.
	naive := t.TempDir()
	if err := os.Symlink(hostDir, filepath.Join(naive, "sub")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-r", filepath.Join(ctx, "tree/sub")+"/.", filepath.Join(naive, "sub")+"/").CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "inner")); err != nil {
		t.Fatalf("control: a naive copy over the link did not reach the host dir: %v", err)
	}
}
