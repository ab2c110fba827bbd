// Command record-golden records the BuildKit golden files of hoist's
// Dockerfile corpus (builder/testdata/corpus). For every case directory it
// builds the case with BuildKit, and writes rootfs.golden (fsdump.Tree.Dump
// of the flattened layers), config.golden (fsdump.ConfigDump of the image
// config) and history.golden (fsdump.HistoryDump: the history entries the
// build wrote and the number of layers it added) into the case directory.
//
// Two oracles: with -buildkit ADDR it builds with a standalone buildkitd
// (current BuildKit, builtin dockerfile frontend, see buildkit.go and the
// corpus README); without it, with the reference environment's dockerd
// (shared/refenv/setup.sh: busybox:latest base, the CLI at /usr/bin/docker,
// whose BuildKit is the old one of dockerd 20.10). Run it from the
// repository root:
//
//	go run ./hack/record-golden                   # every case
//	go run ./hack/record-golden -case 07-env      # one case (repeatable)
//	go run ./hack/record-golden -base internal/testutil/testdata
//	go run ./hack/record-golden -buildkit unix:///run/buildkit-oracle/buildkitd.sock -case 07-env
//
// -base DIR writes the dumps of busybox:latest itself (the base image every
// case builds on) to DIR/busybox.rootfs.golden and DIR/busybox.config.golden
// and records no case unless -case is given.
// -dump REF prints the rootfs and config dumps of an existing image and
// records nothing (handy when writing a new case). -check-export also
// compares every recorded rootfs with dockerd's own flattening of the image
// (docker create + docker export), which checks fsdump.Flatten itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/hoistbuild/hoist/internal/atomicfile"
	"github.com/hoistbuild/hoist/internal/corpus"
	"github.com/hoistbuild/hoist/internal/fsdump"
)

type options struct {
	corpus  string
	docker  string
	cases   []string
	base    string
	dump    string
	noCache bool
	keep    bool
	export  bool
	// buildkit is the address of a standalone buildkitd; "" records from dockerd.
	buildkit string
	buildctl string
	// serve starts this case's servers, prints them and waits (for writing a case).
	serve string
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var o options
	var cases multiFlag
	flag.StringVar(&o.corpus, "corpus", "builder/testdata/corpus", "corpus directory")
	flag.StringVar(&o.docker, "docker", "/usr/bin/docker", "docker CLI with BuildKit support (20.10)")
	flag.Var(&cases, "case", "record only this case (repeatable)")
	flag.StringVar(&o.base, "base", "", "write the dumps of busybox:latest into this directory")
	flag.StringVar(&o.dump, "dump", "", "print the dumps of this existing image and exit")
	flag.BoolVar(&o.noCache, "no-cache", false, "pass --no-cache to docker build")
	flag.BoolVar(&o.keep, "keep", false, "keep the hoist-golden/<case> images")
	flag.BoolVar(&o.export, "check-export", false, "cross-check each rootfs dump against docker export")
	flag.StringVar(&o.buildkit, "buildkit", "", "record from this buildkitd (e.g. unix:///run/buildkit-oracle/buildkitd.sock) instead of dockerd")
	flag.StringVar(&o.buildctl, "buildctl", "buildctl", "buildctl binary of that buildkitd's version (with -buildkit)")
	flag.StringVar(&o.serve, "serve", "", "start this case's servers, print their addresses and refs, wait for ^C")
	flag.Parse()
	o.cases = cases

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "record-golden:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "record-golden-")
	if err != nil {
		return fmt.Errorf("creating temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	if o.buildkit != "" && (o.dump != "" || o.base != "" || o.export || o.keep) {
		return errors.New("-buildkit records cases only: -dump, -base, -check-export and -keep need dockerd")
	}
	if o.serve != "" {
		return serveCase(ctx, filepath.Join(o.corpus, o.serve), tmp)
	}
	if o.dump != "" {
		d, err := saveAndDump(ctx, o.docker, o.dump, filepath.Join(tmp, "dump.tar"))
		if err != nil {
			return fmt.Errorf("dumping %s: %w", o.dump, err)
		}
		_, err = fmt.Printf("%s%s%s", d.rootfs, d.config, d.history)
		return err
	}

	if o.base != "" {
		d, err := saveAndDump(ctx, o.docker, "busybox:latest", filepath.Join(tmp, "base.tar"))
		if err != nil {
			return fmt.Errorf("dumping busybox:latest: %w", err)
		}
		for name, b := range map[string][]byte{"busybox.rootfs.golden": d.rootfs, "busybox.config.golden": d.config} {
			if err := writeAtomic(filepath.Join(o.base, name), b); err != nil {
				return err
			}
		}
		fmt.Println("wrote", o.base)
		if len(o.cases) == 0 {
			return nil
		}
	}

	names := o.cases
	if len(names) == 0 {
		names, err = listCases(o.corpus)
		if err != nil {
			return err
		}
	}
	var failed []string
	record := recordCase
	if o.buildkit != "" {
		record = recordCaseBuildKit
	}
	for _, name := range names {
		if err := record(ctx, o, filepath.Join(o.corpus, name), tmp); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL %s: %v\n", name, err)
			failed = append(failed, name)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Println("ok  ", name)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d case(s) failed: %s", len(failed), strings.Join(failed, " "))
	}
	return nil
}

// serveCase starts a case's servers (internal/corpus), prints their addresses and the refs of its
// repositories (commit ids for --checksum and #<commit> in the case's Dockerfile), and waits
// until ctx is done.
func serveCase(ctx context.Context, dir, tmp string) error {
	spec, err := corpus.ReadSpec(dir)
	if err != nil {
		return err
	}
	srv, err := corpus.Serve(dir, tmp, spec)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("%s = %s\n%s = %s\n", corpus.HTTPPlaceholder, srv.HTTP, corpus.GitPlaceholder, srv.Git)
	names := make([]string, 0, len(spec.Git))
	for name := range spec.Git {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		out, err := exec.CommandContext(ctx, "git", "ls-remote", srv.Git+"/"+name+".git").CombinedOutput()
		if err != nil {
			return fmt.Errorf("git ls-remote %s: %w\n%s", name, err, out)
		}
		fmt.Printf("%s.git:\n%s", name, out)
	}
	fmt.Println("serving; ^C to stop")
	<-ctx.Done()
	return nil
}

// listCases returns the case directories of the corpus, sorted.
func listCases(corpus string) ([]string, error) {
	ents, err := os.ReadDir(corpus)
	if err != nil {
		return nil, fmt.Errorf("listing corpus: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// recordCase builds one case, writes its goldens and removes the image.
func recordCase(ctx context.Context, o options, dir, tmp string) error {
	cfg, err := corpus.ReadSpec(dir)
	if err != nil {
		return err
	}
	if cfg.NeedsServers() {
		return errors.New("the case needs its servers (remote context, git, http): record it from current BuildKit (-buildkit)")
	}
	tag := "hoist-golden/" + strings.ToLower(filepath.Base(dir))
	args := []string{"build", "--network", "host", "-t", tag}
	if o.noCache {
		args = append(args, "--no-cache")
	}
	keys := make([]string, 0, len(cfg.BuildArgs))
	for k := range cfg.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+cfg.BuildArgs[k])
	}
	if cfg.Target != "" {
		args = append(args, "--target", cfg.Target)
	}
	df := cfg.Dockerfile
	if cfg.RecordDockerfile != "" {
		df = cfg.RecordDockerfile
	}
	if df != "" {
		args = append(args, "-f", filepath.Join(dir, df))
	}
	args = append(args, dir)
	if out, err := docker(ctx, o.docker, args...); err != nil {
		return fmt.Errorf("docker build: %w\n%s", err, out)
	}
	if !o.keep {
		defer docker(context.WithoutCancel(ctx), o.docker, "rmi", tag) //nolint:errcheck // best effort
	}
	d, err := saveAndDump(ctx, o.docker, tag, filepath.Join(tmp, filepath.Base(dir)+".tar"))
	if err != nil {
		return err
	}
	if o.export {
		if err := checkExport(ctx, o.docker, tag, d.rootfs); err != nil {
			return err
		}
	}
	return d.write(dir)
}

// dumps are the three goldens of one image.
type dumps struct {
	rootfs, config, history []byte
}

// write stores the goldens in a case directory.
func (d dumps) write(dir string) error {
	for _, f := range []struct {
		name string
		data []byte
	}{{"rootfs.golden", d.rootfs}, {"config.golden", d.config}, {"history.golden", d.history}} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	return nil
}

// saveAndDump runs docker save into archive and returns the dumps of the
// image; the archive is removed afterwards.
func saveAndDump(ctx context.Context, dockerCLI, ref, archive string) (dumps, error) {
	if out, err := docker(ctx, dockerCLI, "save", "-o", archive, ref); err != nil {
		return dumps{}, fmt.Errorf("docker save: %w\n%s", err, out)
	}
	defer os.Remove(archive)
	img, err := tarball.Image(func() (io.ReadCloser, error) { return os.Open(archive) }, nil)
	if err != nil {
		return dumps{}, fmt.Errorf("reading saved image: %w", err)
	}
	return dumpImage(img)
}

// dumpImage flattens img and renders its goldens.
func dumpImage(img v1.Image) (dumps, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return dumps{}, fmt.Errorf("reading config: %w", err)
	}
	tree, err := flattenImage(img)
	if err != nil {
		return dumps{}, err
	}
	return dumps{rootfs: tree.Dump(), config: fsdump.ConfigDump(cf.Config), history: fsdump.HistoryDump(cf)}, nil
}

func flattenImage(img v1.Image) (*fsdump.Tree, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	readers := make([]io.Reader, 0, len(layers))
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, fmt.Errorf("opening layer %d: %w", i, err)
		}
		defer rc.Close()
		readers = append(readers, rc)
	}
	tree, err := fsdump.Flatten(readers)
	if err != nil {
		return nil, fmt.Errorf("flattening: %w", err)
	}
	return tree, nil
}

func docker(ctx context.Context, cli string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=1")
	return cmd.CombinedOutput()
}

// writeAtomic writes b to p (internal/atomicfile: temp file, fsync, rename, fsync of the dir).
func writeAtomic(p string, b []byte) error {
	return atomicfile.WriteFile(p, b, 0o644)
}
