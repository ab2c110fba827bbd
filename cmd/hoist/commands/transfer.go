package commands

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

func newPullCmd(g *globals) *cobra.Command {
	var p pullCmd
	cmd := &cobra.Command{
		Use:     "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short:   "Pull an image from a registry",
		Long:    pullLong,
		Example: pullExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return p.run(cmd.Context(), g, args[0])
		},
	}
	p.rf.add(cmd.Flags(), true)
	cmd.Flags().BoolVarP(&p.allTags, "all-tags", "a", false, "pull every tagged image of the repository")
	cmd.Flags().BoolVarP(&p.rf.quiet, "quiet", "q", false, "print only the image name")
	return cmd
}

// pullCmd is pull's flags.
type pullCmd struct {
	rf      registryFlags
	allTags bool
}

func (p *pullCmd) run(ctx context.Context, g *globals, arg string) error {
	ref, err := store.ParseName(arg)
	if err != nil {
		return fmt.Errorf("invalid reference %q: %w", arg, err)
	}
	if p.allTags && strings.ContainsAny(strings.TrimPrefix(arg, ref.Context().RegistryStr()), ":@") {
		return fmt.Errorf("tag can't be used with --all-tags/-a")
	}
	o, done, err := p.rf.options(g)
	if err != nil {
		return err
	}
	defer done()
	st, release, err := g.openStoreWriting(ctx)
	if err != nil {
		return err
	}
	defer release()
	refs := []name.Reference{ref}
	if p.allTags {
		if refs, err = push.TagRefs(ctx, ref.Context(), o); err != nil {
			return err
		}
	}
	for _, r := range refs {
		if err := p.pullOne(ctx, g, st, r, o); err != nil {
			return err
		}
	}
	return nil
}

// pullOne pulls r and reports it as docker does.
func (p *pullCmd) pullOne(ctx context.Context, g *globals, st *store.Store, r name.Reference, o push.Options) error {
	if !p.rf.quiet {
		fmt.Fprintf(g.stdout, "%s: Pulling from %s\n", r.Identifier(), store.FamiliarRepo(r))
	}
	res, err := push.Pull(ctx, st, r, o)
	if err != nil {
		return err
	}
	if p.rf.quiet {
		fmt.Fprintln(g.stdout, store.NormalizedName(r))
		return nil
	}
	status := "Downloaded newer image for"
	if res.Fetched == 0 {
		status = "Image is up to date for"
	}
	fmt.Fprintf(g.stdout, "Digest: %s\nStatus: %s %s\n%s\n", res.Manifest, status, store.FamiliarName(r), store.NormalizedName(r))
	return nil
}

func newPushCmd(g *globals) *cobra.Command {
	var p pushCmd
	cmd := &cobra.Command{
		Use:     "push [OPTIONS] IMAGE [DESTINATION]",
		Short:   "Push an image to a registry",
		Long:    pushLong,
		Example: pushExample,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return p.run(cmd.Context(), g, args)
		},
	}
	p.rf.add(cmd.Flags(), false)
	cmd.Flags().BoolVarP(&p.allTags, "all-tags", "a", false, "push every tag of the repository")
	cmd.Flags().StringVar(&p.digestFile, "digestfile", "", "write the pushed manifest digest to this file")
	cmd.Flags().StringVar(&p.compression, "compression", "", "recompress layers first: gzip, zstd or estargz (default: push layers as stored)")
	cmd.Flags().BoolVarP(&p.rf.quiet, "quiet", "q", false, "print only the pushed digest reference")
	return cmd
}

// pushCmd is push's flags.
type pushCmd struct {
	rf                      registryFlags
	allTags                 bool
	digestFile, compression string
}

func (p *pushCmd) run(ctx context.Context, g *globals, args []string) error {
	comp, err := push.ParseCompression(p.compression)
	if err != nil {
		return err
	}
	if p.allTags && len(args) == 2 {
		return fmt.Errorf("--all-tags takes one repository, no destination")
	}
	o, done, err := p.rf.options(g)
	if err != nil {
		return err
	}
	defer done()
	st, err := g.openStoreWith(ctx, func() (push.Options, error) { return o, nil })
	if err != nil {
		return err
	}
	jobs, err := pushJobs(ctx, st, args, p.allTags)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := p.pushOne(ctx, g, st, j, comp, o); err != nil {
			return err
		}
	}
	return nil
}

// pushOne recompresses j's image if asked, pushes it and reports the digest.
func (p *pushCmd) pushOne(ctx context.Context, g *globals, st *store.Store, j push.Job, comp push.Compression, o push.Options) error {
	h, err := j.Src, error(nil)
	if comp != push.CompressionKeep {
		if h, err = push.Convert(ctx, st, h, comp); err != nil {
			return err
		}
	}
	if !p.rf.quiet {
		fmt.Fprintf(g.stdout, "The push refers to repository [%s]\n", j.Dst.Context().Name())
	}
	res, err := push.Push(ctx, st, h, j.Dst, o)
	if err != nil {
		return err
	}
	if p.digestFile != "" {
		if err := os.WriteFile(p.digestFile, []byte(res.Digest.DigestStr()), 0o644); err != nil {
			return fmt.Errorf("--digestfile: %w", err)
		}
	}
	if p.rf.quiet {
		fmt.Fprintln(g.stdout, res.Digest.String())
		return nil
	}
	fmt.Fprintf(g.stdout, "%s: digest: %s size: %d\n", j.Dst.Identifier(), res.Digest.DigestStr(), res.Size)
	return nil
}

// pushJobs is what push IMAGE [DESTINATION] or push --all-tags REPOSITORY pushes where.
func pushJobs(ctx context.Context, st *store.Store, args []string, allTags bool) ([]push.Job, error) {
	if allTags {
		return push.TagJobs(ctx, st, args[0])
	}
	dst := ""
	if len(args) == 2 {
		dst = args[1]
	}
	j, err := push.ImageJob(ctx, st, args[0], dst)
	return []push.Job{j}, err
}
