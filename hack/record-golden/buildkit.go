package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/hoistbuild/hoist/internal/atomicfile"
	"github.com/hoistbuild/hoist/internal/corpus"
)

// recordCaseBuildKit builds one case with a standalone buildkitd (o.buildkit) through buildctl and the
// builtin dockerfile frontend (no "# syntax=", so the frontend is the daemon's own), exports the image
// as an OCI layout directory and writes its goldens.
//
// The base images come from the reference registry: buildkitd.toml mirrors docker.io to
// 127.0.0.1:5000 (plain HTTP), so "FROM busybox" resolves to the refenv busybox:latest without any
// other registry (see the corpus README). record_dockerfile is ignored: it exists for the old BuildKit
// of dockerd 20.10; current BuildKit builds the case's own Dockerfile.
func recordCaseBuildKit(ctx context.Context, o options, dir, tmp string) error {
	spec, err := corpus.ReadSpec(dir)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp(tmp, filepath.Base(dir)+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	var srv *corpus.Servers
	if spec.NeedsServers() {
		if srv, err = corpus.Serve(dir, work, spec); err != nil {
			return err
		}
		defer srv.Close()
	}
	in, err := srv.Inputs(dir, work, spec)
	if err != nil {
		return err
	}
	out := filepath.Join(work, "image.oci")
	args := []string{"--addr", o.buildkit, "build", "--progress", "plain",
		"--frontend", "dockerfile.v0", "--output", "type=oci,tar=false,dest=" + out}
	ctxArgs, err := contextArgs(in, srv, work)
	if err != nil {
		return err
	}
	args = append(args, ctxArgs...)
	if o.noCache {
		args = append(args, "--no-cache")
	}
	keys := make([]string, 0, len(in.BuildArgs))
	for k := range in.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--opt", "build-arg:"+k+"="+in.BuildArgs[k])
	}
	if in.Target != "" {
		args = append(args, "--opt", "target="+in.Target)
	}
	cmd := exec.CommandContext(ctx, o.buildctl, args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("buildctl build: %w\n%s", err, b)
	}
	idx, err := layout.ImageIndexFromPath(out)
	if err != nil {
		return fmt.Errorf("reading the exported layout: %w", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fmt.Errorf("reading the exported index: %w", err)
	}
	if len(im.Manifests) != 1 {
		return fmt.Errorf("exported index has %d manifests, want 1", len(im.Manifests))
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		return fmt.Errorf("reading the exported image: %w", err)
	}
	d, err := dumpImage(img)
	if err != nil {
		return err
	}
	if srv != nil {
		d = dumps{srv.Normalize(d.rootfs), srv.Normalize(d.config), srv.Normalize(d.history)}
	}
	return d.write(dir)
}

// contextArgs gives buildctl the context and the Dockerfile as docker buildx would: a local
// directory and the Dockerfile's directory as the "context" and "dockerfile" locals; a git or
// http(s) URL as the frontend's context option (the Dockerfile, -f relative, read from it); a tar
// on stdin as an http context (buildx hands it to the frontend through its upload provider, an
// http URL); a Dockerfile on stdin as the "dockerfile" local with an empty context directory.
func contextArgs(in corpus.Inputs, srv *corpus.Servers, work string) ([]string, error) {
	var args []string
	switch {
	case in.ContextURL != "":
		args = []string{"--opt", "context=" + in.ContextURL}
		if in.Dockerfile != "" {
			args = append(args, "--opt", "filename="+in.Dockerfile)
		}
	case in.Stdin != nil && in.StdinIsArchive:
		args = []string{"--opt", "context=" + srv.HTTP + "/stdin-context"}
		if in.Dockerfile != "" {
			args = append(args, "--opt", "filename="+in.Dockerfile)
		}
	case in.Stdin != nil:
		empty, dfDir := filepath.Join(work, "empty"), filepath.Join(work, "stdin-dockerfile")
		for _, d := range []string{empty, dfDir} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return nil, err
			}
		}
		if err := atomicfile.WriteFile(filepath.Join(dfDir, "Dockerfile"), in.Stdin, 0o644); err != nil {
			return nil, err
		}
		args = []string{"--local", "context=" + empty, "--local", "dockerfile=" + dfDir, "--opt", "filename=Dockerfile"}
	default:
		df := in.Dockerfile
		if df == "" {
			df = filepath.Join(in.ContextDir, "Dockerfile")
		}
		args = []string{"--local", "context=" + in.ContextDir, "--local", "dockerfile=" + filepath.Dir(df),
			"--opt", "filename=" + filepath.Base(df)}
	}
	return args, nil
}
