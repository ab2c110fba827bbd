package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"

	"github.com/google/go-containerregistry/pkg/v1/layout"
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
	cfg, err := readCaseConfig(dir)
	if err != nil {
		return err
	}
	df := filepath.Join(dir, "Dockerfile")
	if cfg.Dockerfile != "" {
		df = filepath.Join(dir, cfg.Dockerfile)
	}
	out := filepath.Join(tmp, filepath.Base(dir)+".oci")
	defer os.RemoveAll(out)
	args := []string{"--addr", o.buildkit, "build", "--progress", "plain",
		"--frontend", "dockerfile.v0",
		"--local", "context=" + dir, "--local", "dockerfile=" + filepath.Dir(df),
		"--opt", "filename=" + filepath.Base(df),
		"--output", "type=oci,tar=false,dest=" + out}
	if o.noCache {
		args = append(args, "--no-cache")
	}
	keys := make([]string, 0, len(cfg.BuildArgs))
	for k := range cfg.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--opt", "build-arg:"+k+"="+cfg.BuildArgs[k])
	}
	if cfg.Target != "" {
		args = append(args, "--opt", "target="+cfg.Target)
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
	return d.write(dir)
}
