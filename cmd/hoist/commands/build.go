package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/internal/platform"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/run"
)

func newBuildCmd(g *globals) *cobra.Command {
	var b buildCmd
	cmd := &cobra.Command{
		Use:     "build [OPTIONS] PATH | URL | -",
		Short:   "Build an image from a Dockerfile",
		Long:    buildLong,
		Example: buildExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if done, err := b.cachedOnly(cmd.Context(), g, args[0]); done {
				return err
			}
			// Builds mount overlays.
			if reexeced, err := inPrivateMounts(cmd); reexeced || err != nil {
				return err
			}
			return b.run(cmd.Context(), g, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&b.tags, "tag", "t", nil, "name and optionally a tag (name:tag)")
	f.StringVarP(&b.file, "file", "f", "", "name of the Dockerfile (default CONTEXT/Dockerfile; - reads stdin)")
	f.StringArrayVar(&b.buildArgs, "build-arg", nil, "set a build-time variable (KEY=VALUE, or KEY to take it from the environment)")
	f.StringArrayVar(&b.labels, "label", nil, "set metadata on the image (KEY=VALUE)")
	f.StringVar(&b.target, "target", "", "build this stage")
	f.StringArrayVar(&b.platforms, "platform", nil, "build for these platforms (os/arch[/variant], comma-separated or repeated; several make an image index)")
	f.BoolVar(&b.noCache, "no-cache", false, "do not use the build cache")
	f.StringArrayVar(&b.noCacheFilter, "no-cache-filter", nil, "do not use the build cache for this stage (repeatable)")
	f.StringArrayVar(&b.secrets, "secret", nil, "expose a secret to RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR")
	f.StringArrayVar(&b.cacheFrom, "cache-from", nil, "import build cache: type=registry,ref=REF | type=local,src=DIR (or just REF)")
	f.StringArrayVar(&b.cacheTo, "cache-to", nil, "export build cache: type=registry,ref=REF[,mode=min|max][,cache-mounts=true] | type=local,dest=DIR[,...]")
	f.BoolVar(&b.explain, "explain", false, "show which steps would run and why, without building")
	f.BoolVar(&b.pull, "pull", false, "always look up base image tags in their registry")
	f.BoolVarP(&b.quiet, "quiet", "q", false, "print only the image ID")
	f.StringVar(&b.progress, "progress", "plain", "progress output: plain, tty or quiet")
	f.StringVar(&b.iidfile, "iidfile", "", "write the image ID to this file")
	f.StringArrayVarP(&b.outputs, "output", "o", nil, "output destination: type=image|registry|docker|oci|tar|local[,dest=PATH][,name=NAME][,push=true], PATH (local) or - (tar to stdout)")
	f.BoolVar(&b.push, "push", false, "push the image to the registry of each name (shorthand for --output=type=registry)")
	f.BoolVar(&b.load, "load", false, "keep the image in hoist's image store (shorthand for --output=type=docker; the default)")
	f.StringVar(&b.metadataFile, "metadata-file", "", "write the build result metadata (digest, descriptor, names) to this file as JSON")
	f.StringArrayVar(&b.contexts, "build-context", nil, "additional build context for FROM, COPY --from and RUN --mount from=: NAME=DIR|docker-image://REF|oci-layout://PATH[:TAG][@DIGEST]")
	f.StringArrayVar(&b.ssh, "ssh", nil, "forward an ssh agent to RUN --mount=type=ssh: default|ID[=SOCKET|KEY[,KEY...]] (default: $SSH_AUTH_SOCK)")
	f.StringArrayVar(&b.annotations, "annotation", nil, "add an annotation to the image: [TYPE[PLATFORM],...:]KEY=VALUE (TYPE manifest, manifest-descriptor, index, index-descriptor)")
	f.StringVar(&b.sbom, "sbom", "", "attach an SPDX SBOM of the image's packages (dpkg, apk, Go binaries): true or false (shorthand for --attest=type=sbom)")
	f.StringVar(&b.provenance, "provenance", "", "attach SLSA provenance: true, false or mode=min|max[,version=v1|v0.2] (shorthand for --attest=type=provenance)")
	f.StringArrayVar(&b.attest, "attest", nil, "attach an attestation: type=sbom or type=provenance[,mode=min|max][,version=v1|v0.2][,builder-id=ID][,reproducible=true]")
	b.runf.add(f)
	f.StringVar(&b.compression, "compression", "", "layer compression of the result: gzip (default), zstd or estargz")
	b.rf.add(f, false)
	f.StringVar(&b.sde, "source-date-epoch", "", "clamp timestamps to this Unix time (default $SOURCE_DATE_EPOCH)")
	return cmd
}

// buildCmd is build's flags.
type buildCmd struct {
	tags, buildArgs, labels []string
	file, target, progress  string
	iidfile, sde            string
	noCache, quiet          bool
	explain, pull           bool
	noCacheFilter, secrets  []string
	runf                    runFlags
	cacheFrom, cacheTo      []string
	compression             string
	platforms               []string
	rf                      registryFlags
	outputs, annotations    []string
	ssh, contexts           []string
	push, load              bool
	metadataFile            string
	onlyCached              bool // builder.WithCachedOnly (cachedOnly)
	sbom, provenance        string
	attest                  []string
}

// cachedOnly runs the build first as one that only its caches answer (builder.WithCachedOnly), where
// inPrivateMounts would re-execute it: a build whose every step is cached then finishes in this
// process, without a second one and a mount namespace. Its output is held back and dropped when the
// build turns out to need more, and the command goes on as usual (done false). Builds that read
// standard input, a remote context or a registry first are not tried this way.
func (b *buildCmd) cachedOnly(ctx context.Context, g *globals, arg string) (done bool, err error) {
	if os.Geteuid() != 0 || run.InPrivateMounts() || !b.cacheAnswers(arg) {
		return false, nil
	}
	stdout, stderr := g.stdout, g.stderr
	var out, errs bytes.Buffer
	g.stdout, g.stderr, b.onlyCached = &out, &errs, true
	err = b.run(ctx, g, arg)
	g.stdout, g.stderr, b.onlyCached = stdout, stderr, false
	if errors.Is(err, builder.ErrNotCachedOnly) {
		return false, nil
	}
	_, _ = errs.WriteTo(stderr)
	_, _ = out.WriteTo(stdout)
	return true, err
}

// cacheAnswers reports whether a build may be tried with caches only (cachedOnly): it reads neither
// standard input (a context, a Dockerfile or an output given as -) nor a remote context, and asks
// no registry before its steps (--pull, --cache-from).
func (b *buildCmd) cacheAnswers(arg string) bool {
	if arg == "-" || b.file == "-" || builder.IsRemoteContext(arg) || b.pull || len(b.cacheFrom) > 0 {
		return false
	}
	for _, o := range b.outputs {
		if o == "-" || strings.Contains(o, "dest=-") {
			return false
		}
	}
	return true
}

func (b *buildCmd) run(ctx context.Context, g *globals, arg string) error {
	opts, err := b.options(g, arg)
	if err != nil {
		return err
	}
	driver, err := g.storageDriver()
	if err != nil {
		return err
	}
	var done func()
	if opts.Registry, done, err = b.rf.options(g); err != nil {
		return err
	}
	defer done()
	// Layers the build needs from a registry cache are fetched with its own registry flags.
	st, err := g.openStoreWith(ctx, func() (push.Options, error) { return opts.Registry, nil })
	if err != nil {
		return err
	}
	bopts := []builder.Option{builder.WithStorageDriver(driver)}
	if b.onlyCached {
		bopts = append(bopts, builder.WithCachedOnly())
	}
	bld, err := builder.New(g.root, st, bopts...)
	if err != nil {
		return err
	}
	res, err := bld.Build(ctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("build interrupted: nothing was tagged; finished steps stay in the cache")
		}
		return err
	}
	return b.report(g, res, opts)
}

// report writes --iidfile and --metadata-file and prints the image ID (unless an output has stdout).
func (b *buildCmd) report(g *globals, res *builder.Result, opts builder.Options) error {
	if b.iidfile != "" {
		if err := os.WriteFile(b.iidfile, []byte(res.ImageID.String()), 0o644); err != nil {
			return fmt.Errorf("--iidfile: %w", err)
		}
	}
	if b.metadataFile != "" && !b.explain {
		if err := builder.WriteMetadata(b.metadataFile, res.Metadata); err != nil {
			return err
		}
	}
	if !b.explain && !outputsToStdout(opts.Outputs) {
		fmt.Fprintln(g.stdout, res.ImageID)
	}
	return nil
}

// options turns the flags and the context argument into builder.Options (bad values exit 125).
func (b *buildCmd) options(g *globals, arg string) (builder.Options, error) {
	opts := builder.Options{Dockerfile: b.file, Env: os.Environ(), Target: b.target, Tags: b.tags,
		NoCache: b.noCache, NoCacheFilter: b.noCacheFilter, Explain: b.explain, Pull: b.pull,
		Quiet: b.quiet || b.progress == "quiet", Progress: g.stderr}
	if err := b.parseValues(&opts); err != nil {
		return opts, flagError(err)
	}
	if err := setContext(&opts, arg, g.stdin); err != nil {
		return opts, err
	}
	comp, err := push.ParseCompression(b.compression)
	if err != nil {
		return opts, flagError(fmt.Errorf("--compression: %w", err))
	}
	opts.Compression = comp
	if err := builder.CheckOutputs(opts); err != nil {
		return opts, flagError(err)
	}
	if outputsToStdout(opts.Outputs) && isTerminal(g.stdout) {
		return opts, flagError(errors.New("--output: refusing to write a tar to the terminal: give dest=FILE or redirect stdout"))
	}
	opts.Stdout = g.stdout
	if b.file == "-" {
		data, err := io.ReadAll(g.stdin)
		if err != nil {
			return opts, fmt.Errorf("reading Dockerfile from stdin: %w", err)
		}
		opts.DockerfileData = data
	}
	b.rf.quiet = opts.Quiet
	return opts, nil
}

// parseValues parses the flags that take structured values into opts.
func (b *buildCmd) parseValues(opts *builder.Options) error {
	var err error
	if opts.BuildArgs, err = parseKeyValues("--build-arg", b.buildArgs, true); err != nil {
		return err
	}
	if opts.Labels, err = parseKeyValues("--label", b.labels, false); err != nil {
		return err
	}
	if opts.Secrets, err = parseSecrets(b.secrets); err != nil {
		return err
	}
	if opts.SSH, err = parseSSH(b.ssh); err != nil {
		return err
	}
	if opts.NamedContexts, err = parseBuildContexts(b.contexts); err != nil {
		return err
	}
	if opts.CacheFrom, opts.CacheTo, err = parseCaches(b.cacheFrom, b.cacheTo); err != nil {
		return err
	}
	if opts.Outputs, err = builder.ParseOutputs(b.outputs, b.push, b.load); err != nil {
		return err
	}
	if opts.Annotations, err = parseAnnotations(b.annotations); err != nil {
		return err
	}
	return b.parseRest(opts)
}

// parseRest is parseValues for --progress, the RUN flags, --platform, the attestations and
// --source-date-epoch.
func (b *buildCmd) parseRest(opts *builder.Options) error {
	switch b.progress {
	case "plain", "tty", "auto", "quiet":
	default:
		return fmt.Errorf("--progress: unknown mode %q (plain, tty, quiet)", b.progress)
	}
	var err error
	if opts.Run, err = b.runf.options(); err != nil {
		return err
	}
	if len(b.platforms) > 0 {
		if opts.Platforms, err = platform.ParseList(strings.Join(b.platforms, ",")); err != nil {
			return fmt.Errorf("--platform: %w", err)
		}
	}
	if opts.Attest, err = builder.ParseAttestations(b.sbom, b.provenance, b.attest); err != nil {
		return err
	}
	opts.SourceDateEpoch, err = sourceDateEpoch(b.sde)
	return err
}

// parseCaches parses --cache-from and --cache-to.
func parseCaches(from, to []string) ([]builder.CacheSource, []builder.CacheTarget, error) {
	var srcs []builder.CacheSource
	var dsts []builder.CacheTarget
	for _, c := range from {
		src, err := parseCacheSource(c)
		if err != nil {
			return nil, nil, err
		}
		srcs = append(srcs, src)
	}
	for _, c := range to {
		dst, err := parseCacheTarget(c)
		if err != nil {
			return nil, nil, err
		}
		dsts = append(dsts, dst)
	}
	return srcs, dsts, nil
}

// sourceDateEpoch is --source-date-epoch, else $SOURCE_DATE_EPOCH, as a time (nil when neither).
func sourceDateEpoch(sde string) (*time.Time, error) {
	if sde == "" {
		sde = os.Getenv("SOURCE_DATE_EPOCH")
	}
	if sde == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(sde, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("--source-date-epoch: %q is not a number of seconds", sde)
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// setContext chooses the kind of build context as docker does: "-" is stdin (a tar archive or a
// Dockerfile), an existing directory is local, then a git URL or an http(s) URL is remote.
func setContext(opts *builder.Options, arg string, stdin io.Reader) error {
	switch {
	case arg == "-":
		if opts.Dockerfile == "-" {
			return flagError(errors.New("invalid argument: can't use stdin for both build context and dockerfile"))
		}
		opts.ContextReader = stdin
	case isDir(arg):
		opts.ContextDir = arg
	case builder.IsRemoteContext(arg):
		opts.ContextURL = arg
	default:
		opts.ContextDir = arg
	}
	return nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// flagError makes a bad flag value exit 125, as docker's flag errors do.
func flagError(err error) error { return &exitError{code: 125, err: err} }
