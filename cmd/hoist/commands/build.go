package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/builder"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

func newBuildCmd(g *globals) *cobra.Command {
	var (
		tags, buildArgs, labels []string
		file, target, progress  string
		iidfile, sde            string
		noCache, quiet          bool
		explain, pull           bool
		noCacheFilter, secrets  []string
		runf                    runFlags
		cacheFrom, cacheTo      []string
		compression             string
		rf                      registryFlags
	)
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] PATH | URL | -",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Builds mount overlays.
			if reexeced, err := inPrivateMounts(cmd); reexeced || err != nil {
				return err
			}
			opts := builder.Options{Dockerfile: file, Env: os.Environ(), Target: target, Tags: tags,
				NoCache: noCache, NoCacheFilter: noCacheFilter, Explain: explain, Pull: pull, Quiet: quiet || progress == "quiet", Progress: g.stderr}
			var err error
			if opts.BuildArgs, err = parseKeyValues("--build-arg", buildArgs, true); err != nil {
				return flagError(err)
			}
			if opts.Labels, err = parseKeyValues("--label", labels, false); err != nil {
				return flagError(err)
			}
			if opts.Secrets, err = parseSecrets(secrets); err != nil {
				return flagError(err)
			}
			for _, c := range cacheFrom {
				src, err := parseCacheSource(c)
				if err != nil {
					return flagError(err)
				}
				opts.CacheFrom = append(opts.CacheFrom, src)
			}
			for _, c := range cacheTo {
				dst, err := parseCacheTarget(c)
				if err != nil {
					return flagError(err)
				}
				opts.CacheTo = append(opts.CacheTo, dst)
			}
			switch progress {
			case "plain", "tty", "auto", "quiet":
			default:
				return flagError(fmt.Errorf("--progress: unknown mode %q (plain, tty, quiet)", progress))
			}
			if opts.Run, err = runf.options(); err != nil {
				return flagError(err)
			}
			if sde == "" {
				sde = os.Getenv("SOURCE_DATE_EPOCH")
			}
			if sde != "" {
				n, err := strconv.ParseInt(sde, 10, 64)
				if err != nil {
					return flagError(fmt.Errorf("--source-date-epoch: %q is not a number of seconds", sde))
				}
				t := time.Unix(n, 0).UTC()
				opts.SourceDateEpoch = &t
			}
			if err := setContext(&opts, args[0], g.stdin); err != nil {
				return err
			}
			if file == "-" {
				data, err := io.ReadAll(g.stdin)
				if err != nil {
					return fmt.Errorf("reading Dockerfile from stdin: %w", err)
				}
				opts.DockerfileData = data
			}
			comp, err := push.ParseCompression(compression)
			if err != nil {
				return flagError(fmt.Errorf("--compression: %w", err))
			}
			rf.quiet = opts.Quiet
			var done func()
			if opts.Registry, done, err = rf.options(g); err != nil {
				return err
			}
			defer done()
			// Layers the build needs from a registry cache are fetched with its own registry flags.
			st, err := g.openStoreWith(cmd.Context(), func() (push.Options, error) { return opts.Registry, nil })
			if err != nil {
				return err
			}
			b, err := builder.New(g.root, st)
			if err != nil {
				return err
			}
			res, err := b.Build(cmd.Context(), opts)
			if err != nil {
				if cmd.Context().Err() != nil {
					return errors.New("build interrupted: nothing was tagged; finished steps stay in the cache")
				}
				return err
			}
			if comp != "" && !explain {
				if res, err = recompress(cmd.Context(), st, res, comp, tags); err != nil {
					return err
				}
			}
			if iidfile != "" {
				if err := os.WriteFile(iidfile, []byte(res.ImageID.String()), 0o644); err != nil {
					return fmt.Errorf("--iidfile: %w", err)
				}
			}
			if !explain {
				fmt.Fprintln(g.stdout, res.ImageID)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&tags, "tag", "t", nil, "name and optionally a tag (name:tag)")
	f.StringVarP(&file, "file", "f", "", "name of the Dockerfile (default CONTEXT/Dockerfile; - reads stdin)")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "set a build-time variable (KEY=VALUE, or KEY to take it from the environment)")
	f.StringArrayVar(&labels, "label", nil, "set metadata on the image (KEY=VALUE)")
	f.StringVar(&target, "target", "", "build this stage")
	f.BoolVar(&noCache, "no-cache", false, "do not use the build cache")
	f.StringArrayVar(&noCacheFilter, "no-cache-filter", nil, "do not use the build cache for this stage (repeatable)")
	f.StringArrayVar(&secrets, "secret", nil, "expose a secret to RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR")
	f.StringArrayVar(&cacheFrom, "cache-from", nil, "import build cache: type=registry,ref=REF | type=local,src=DIR (or just REF)")
	f.StringArrayVar(&cacheTo, "cache-to", nil, "export build cache: type=registry,ref=REF[,mode=min|max][,cache-mounts=true] | type=local,dest=DIR[,...]")
	f.BoolVar(&explain, "explain", false, "show which steps would run and why, without building")
	f.BoolVar(&pull, "pull", false, "always look up base image tags in their registry")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the image ID")
	f.StringVar(&progress, "progress", "plain", "progress output: plain, tty or quiet")
	f.StringVar(&iidfile, "iidfile", "", "write the image ID to this file")
	runf.add(f)
	f.StringVar(&compression, "compression", "", "layer compression of the result: gzip (default), zstd or estargz")
	rf.add(f, false)
	f.StringVar(&sde, "source-date-epoch", "", "clamp timestamps to this Unix time (default $SOURCE_DATE_EPOCH)")
	return cmd
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

// recompress converts a built image's layers (--compression) and moves its tags to the result.
func recompress(ctx context.Context, st *store.Store, res *builder.Result, c push.Compression, tags []string) (*builder.Result, error) {
	h, err := push.Convert(ctx, st, res.Manifest, c)
	if err != nil {
		return nil, fmt.Errorf("--compression %s: %w", c, err)
	}
	var names []string
	for _, t := range tags {
		ref, err := store.ParseName(t)
		if err != nil {
			return nil, err
		}
		names = append(names, store.NormalizedName(ref))
	}
	if err := st.AddImage(ctx, h, names...); err != nil {
		return nil, err
	}
	img, err := st.Image(h)
	if err != nil {
		return nil, err
	}
	id, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	return &builder.Result{ImageID: id, Manifest: h, ContextFilesRead: res.ContextFilesRead}, nil
}
