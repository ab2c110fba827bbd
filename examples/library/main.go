// Command library shows hoist as a Go library: it builds a Dockerfile, pushes the image to a
// registry and runs it, with hoist's packages only (no cobra, no hoist binary). See README.md.
//
//	go build -o /tmp/hoist-library ./examples/library
//	sudo /tmp/hoist-library -root /tmp/hoist-lib examples/hello 127.0.0.1:5000/example/hello:1
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/container"
)

func main() {
	// A program that runs containers or RUN steps re-executes itself as the sandbox's init, and a
	// detached container's monitor is this program too: both must come first in main.
	run.MaybeInit()
	container.MaybeMonitor()

	root := flag.String("root", "/var/lib/hoist", "hoist's storage directory")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: library [-root DIR] CONTEXT_DIR REGISTRY/REPOSITORY:TAG")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// The build mounts overlays: as hoist build does, do it in a private mount namespace (a re-exec
	// of this program), so that no mount outlives the process, even when it is killed.
	if os.Geteuid() == 0 && !run.InPrivateMounts() {
		code, err := run.ReexecPrivateMounts(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "library:", err)
			os.Exit(1)
		}
		os.Exit(code)
	}
	code, err := buildPushRun(ctx, *root, flag.Arg(0), flag.Arg(1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "library:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// buildPushRun builds contextDir's Dockerfile as ref, pushes it to ref's registry and runs it
// (no network, removed after), returning the container's exit status.
func buildPushRun(ctx context.Context, root, contextDir, ref string) (int, error) {
	dst, err := name.ParseReference(ref)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", ref, err)
	}
	// The store, protected by the root's containers (an image a container uses is not removed).
	st, err := container.OpenStore(root)
	if err != nil {
		return 0, err
	}

	// 1. Build (hoist build -t REF CONTEXT_DIR). The base image is taken from the store, or
	// pulled from its registry.
	b, err := builder.New(root, st)
	if err != nil {
		return 0, err
	}
	res, err := b.Build(ctx, builder.Options{
		ContextDir: contextDir,
		Tags:       []string{ref},
		Progress:   os.Stderr,
	})
	if err != nil {
		return 0, fmt.Errorf("build: %w", err)
	}
	fmt.Printf("built %s: image %s\n", ref, res.ImageID)

	// 2. Push (hoist push REF). The zero push.Options: docker's credentials, plain HTTP only for a
	// loopback registry.
	pushed, err := push.Push(ctx, st, res.Manifest, dst, push.Options{})
	if err != nil {
		return 0, fmt.Errorf("push: %w", err)
	}
	fmt.Printf("pushed %s\n", pushed.Digest)

	// 3. Run (hoist run --rm --network none REF), attached to this process's stdout and stderr.
	rt, err := container.Open(root, st)
	if err != nil {
		return 0, err
	}
	c, err := rt.Create(ctx, container.CreateOptions{Image: ref, Network: "none", AutoRemove: true})
	if err != nil {
		return 0, fmt.Errorf("create: %w", err)
	}
	code, err := rt.RunAttached(ctx, c.ID, container.Stdio{Out: os.Stdout, Err: os.Stderr})
	if err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	return code, nil
}
