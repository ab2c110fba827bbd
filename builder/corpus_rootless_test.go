package builder_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/store"
)

// corpusEpoch is the --source-date-epoch of the rootless corpus run's builds (both users').
const corpusEpoch = "1700000000"

// TestCorpusRootless builds every corpus case with the hoist command line run by an ordinary user
// (rootless: this test binary is hoist, see TestMain), compares each image with BuildKit's goldens
// exactly as TestCorpus does, and checks that root running the same command line builds the same
// image (the same image ID, with --source-date-epoch). The user's builds share one hoist root and
// one rootless server, as a user's builds do.
func TestCorpusRootless(t *testing.T) {
	u := testutil.NewRootlessUser(t)
	r := &rootlessCorpus{u: u}
	runCorpus(t, r.build)
	if pid := u.ServerPid(); pid == 0 {
		t.Errorf("no rootless server runs after the corpus: the builds did not run rootless")
	}
}

type rootlessCorpus struct {
	u      *testutil.RootlessUser
	env    []string     // the case's git client settings (ssh agent, known_hosts, CA), for both users
	userSt *store.Store // the user's store, opened (read-only use) once busybox is in it
}

// build is a caseBuild: the same command line as the user and as root; the user's image is
// returned for the golden comparison.
func (r *rootlessCorpus) build(t *testing.T, _ *builder.Builder, st *store.Store, opts builder.Options) v1.Image {
	t.Helper()
	if r.userSt == nil {
		r.loadBusybox(t, st.Root())
	}
	r.env = gitClientEnv(t, opts.Env)
	opts.Env = nil
	args, stdin := buildArgs(t, opts)
	rootless := r.hoist(t, true, stdin, args...)
	rootful := r.hoist(t, false, stdin, append([]string{"--root", st.Root()}, args...)...)
	if rootless != rootful {
		// A case whose image is not reproducible even for root (a kept .git records its fetch) cannot
		// match: show that with a second rootful build without the cache, else it is an error.
		again := r.hoist(t, false, stdin, append([]string{"--root", st.Root(), args[0], "--no-cache"}, args[1:]...)...)
		if again == rootful {
			t.Errorf("rootless build %s, rootful build %s: the same command line must give the same image", rootless, rootful)
		} else {
			t.Logf("rootless build %s, rootful builds %s and %s: the case is not reproducible, so only its goldens are compared", rootless, rootful, again)
		}
	}
	h, err := r.userSt.Resolve(context.Background(), opts.Tags[0])
	if err != nil {
		t.Fatal(err)
	}
	img, err := r.userSt.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	if cf, err := img.ConfigName(); err != nil || cf.String() != rootless {
		t.Errorf("the user's image %s has config %v (%v), build -q printed %s", opts.Tags[0], cf, err, rootless)
	}
	return img
}

// loadBusybox copies busybox from root's root (the corpus runner's) into the user's.
func (r *rootlessCorpus) loadBusybox(t *testing.T, rootfulRoot string) {
	t.Helper()
	tar := filepath.Join(r.u.Dir, "busybox.tar")
	r.hoist(t, false, nil, "--root", rootfulRoot, "save", "-o", tar, "busybox:latest")
	if err := os.Chmod(tar, 0o644); err != nil {
		t.Fatal(err)
	}
	r.hoist(t, true, nil, "load", "-q", "-i", tar)
	st, err := store.Open(r.u.DataRoot())
	if err != nil {
		t.Fatal(err)
	}
	r.userSt = st
}

// hoist runs the CLI as the user (rootless) or as root and returns its trimmed stdout; a failure
// ends the test.
func (r *rootlessCorpus) hoist(t *testing.T, rootless bool, stdin []byte, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cmd *exec.Cmd
	if rootless {
		cmd = r.u.Command(ctx, args...)
	} else {
		cmd = exec.CommandContext(ctx, os.Args[0], args...)
		cmd.Env = append(os.Environ(), "HOIST_TEST_CLI=1")
	}
	cmd.Env = append(cmd.Env, r.env...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	defer func() {
		t.Logf("%v: hoist %s (rootless %v)", time.Since(start).Round(time.Millisecond), strings.Join(args, " "), rootless)
	}()
	if err := cmd.Run(); err != nil {
		who := "root"
		if rootless {
			who = "the rootless user"
		}
		t.Fatalf("hoist %s as %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), who, err, out.String(), errb.String())
	}
	return strings.TrimSpace(out.String())
}

// gitClientEnv is what env (a case's Options.Env: the environment plus its git client settings)
// adds to this process's environment. The user gets to use the case's ssh agent and CA, as a user
// uses their own: the socket and the CA file are opened to everyone for the test.
func gitClientEnv(t *testing.T, env []string) []string {
	t.Helper()
	have := map[string]bool{}
	for _, kv := range os.Environ() {
		have[kv] = true
	}
	var extra []string
	for _, kv := range env {
		if have[kv] {
			continue
		}
		extra = append(extra, kv)
		if ca, ok := strings.CutPrefix(kv, "GIT_SSL_CAINFO="); ok {
			for p, mode := range map[string]os.FileMode{filepath.Dir(ca): 0o755, ca: 0o644} {
				if err := os.Chmod(p, mode); err != nil {
					t.Fatal(err)
				}
			}
		}
		if sock, ok := strings.CutPrefix(kv, "SSH_AUTH_SOCK="); ok {
			for _, p := range []string{filepath.Dir(sock), sock} {
				if err := os.Chmod(p, 0o777); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return extra
}

// buildArgs turns the options of an in-process build into the `hoist build` command line (and its
// stdin) that asks for the same build, with --source-date-epoch. Options it cannot express end
// the test: the corpus must not silently build something else rootless.
func buildArgs(t *testing.T, opts builder.Options) ([]string, []byte) {
	t.Helper()
	args := []string{"build", "-q", "--source-date-epoch", corpusEpoch}
	for _, tag := range opts.Tags {
		args = append(args, "-t", tag)
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	switch {
	case opts.Dockerfile == "":
	case filepath.IsAbs(opts.Dockerfile) || opts.ContextURL == "" && opts.ContextReader == nil:
		args = append(args, "-f", abs(opts.Dockerfile))
	default: // relative to a remote context: passed as is (hoist build -f's rule)
		args = append(args, "-f", opts.Dockerfile)
	}
	keys := make([]string, 0, len(opts.BuildArgs))
	for k := range opts.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+opts.BuildArgs[k])
	}
	if opts.Target != "" {
		args = append(args, "--target", opts.Target)
	}
	var stdin []byte
	switch {
	case opts.ContextReader != nil:
		b, err := io.ReadAll(opts.ContextReader)
		if err != nil {
			t.Fatal(err)
		}
		stdin = b
		args = append(args, "-")
	case opts.ContextURL != "":
		args = append(args, opts.ContextURL)
	default:
		args = append(args, abs(opts.ContextDir))
	}
	rest := opts
	rest.Tags, rest.Dockerfile, rest.BuildArgs, rest.Target = nil, "", nil, ""
	rest.ContextReader, rest.ContextURL, rest.ContextDir, rest.Progress = nil, "", "", nil
	if !reflect.DeepEqual(rest, builder.Options{}) {
		t.Fatalf("the rootless corpus runner cannot pass these build options to the command line: %s", fmt.Sprintf("%+v", rest))
	}
	return args, stdin
}
