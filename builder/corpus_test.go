package builder_test

import (
	"bytes"
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/corpus"
	"github.com/hoistbuild/hoist/internal/fsdump"
	"github.com/hoistbuild/hoist/internal/testutil"
	"github.com/hoistbuild/hoist/internal/testutil/prereq"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/store"
)

var corpusCase = flag.String("case", "", "run only this corpus case")

func TestMain(m *testing.M) {
	run.MaybeInit()
	os.Exit(m.Run())
}

// TestCorpus builds every corpus case with hoist and compares the final rootfs, config and history
// with what BuildKit built from the same Dockerfile (recorded by hack/record-golden).
func TestCorpus(t *testing.T) { runCorpus(t) }

// TestCorpusCopyFallback builds the corpus again without overlayfs (full rootfs copies and a
// compare-based diff), which must give the same images.
func TestCorpusCopyFallback(t *testing.T) {
	if testing.Short() {
		t.Skip("the overlay corpus run covers -short")
	}
	runCorpus(t, builder.WithoutOverlay())
}

func runCorpus(t *testing.T, bopts ...builder.Option) {
	prereq.Require(t, prereq.Root)
	testutil.RequireGoldenBusybox(t)
	cases, err := filepath.Glob("testdata/corpus/*/rootfs.golden")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no corpus cases found: %v", err)
	}
	root, st := testutil.NewRoot(t)
	b, err := builder.New(root, st, bopts...)
	if err != nil {
		t.Fatal(err)
	}
	for _, golden := range cases {
		dir := filepath.Dir(golden)
		name := filepath.Base(dir)
		if *corpusCase != "" && name != *corpusCase {
			continue
		}
		t.Run(name, func(t *testing.T) { buildCase(t, b, st, dir) })
	}
}

// buildCase builds one case (with its servers, when it has any: internal/corpus) and compares its
// dumps, the servers' addresses replaced by the placeholders, with the goldens.
func buildCase(t *testing.T, b *builder.Builder, st *store.Store, dir string) {
	name := filepath.Base(dir)
	spec, err := corpus.ReadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	var srv *corpus.Servers
	if spec.NeedsServers() {
		testutil.RequireGit(t)
		if srv, err = corpus.Serve(dir, t.TempDir(), spec); err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
	}
	in, err := srv.Inputs(dir, t.TempDir(), spec)
	if err != nil {
		t.Fatal(err)
	}
	opts := builder.Options{ContextDir: in.ContextDir, ContextURL: in.ContextURL, Dockerfile: in.Dockerfile,
		BuildArgs: in.BuildArgs, Target: in.Target, Tags: []string{"corpus/" + name + ":latest"}}
	if in.Stdin != nil {
		opts.ContextReader = bytes.NewReader(in.Stdin)
	}
	var log bytes.Buffer
	opts.Progress = &log
	res, err := b.Build(context.Background(), opts)
	if err != nil {
		t.Fatalf("build failed: %v\n%s", err, log.String())
	}
	img, err := st.Image(res.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("validate.Image: %v", err)
	}
	gotFS, gotCfg, gotHist := dumpImage(t, img)
	if srv != nil {
		gotFS, gotCfg, gotHist = srv.Normalize(gotFS), srv.Normalize(gotCfg), srv.Normalize(gotHist)
	}
	compareGolden(t, filepath.Join(dir, "rootfs.golden"), gotFS)
	compareGolden(t, filepath.Join(dir, "config.golden"), gotCfg)
	compareGolden(t, filepath.Join(dir, "history.golden"), gotHist)
}

func dumpImage(t *testing.T, img v1.Image) (rootfs, config, history []byte) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var readers []io.Reader
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		readers = append(readers, rc)
	}
	tree, err := fsdump.Flatten(readers)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return tree.Dump(), fsdump.ConfigDump(cfg.Config), fsdump.HistoryDump(cfg)
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(want, got) {
		return
	}
	t.Errorf("%s differs from BuildKit's:\n%s", filepath.Base(path), lineDiff(string(want), string(got)))
}

// lineDiff lists lines only in want (-) or only in got (+).
func lineDiff(want, got string) string {
	w := map[string]bool{}
	for _, l := range strings.Split(want, "\n") {
		w[l] = true
	}
	g := map[string]bool{}
	var b strings.Builder
	for _, l := range strings.Split(got, "\n") {
		g[l] = true
		if !w[l] {
			b.WriteString("+ " + l + "\n")
		}
	}
	for _, l := range strings.Split(want, "\n") {
		if !g[l] {
			b.WriteString("- " + l + "\n")
		}
	}
	return b.String()
}
