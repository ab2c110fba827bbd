package commands

import (
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

func newPullCmd(g *globals) *cobra.Command {
	var rf registryFlags
	var allTags bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Pull an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := store.ParseName(args[0])
			if err != nil {
				return fmt.Errorf("invalid reference %q: %w", args[0], err)
			}
			refs := []name.Reference{ref}
			if allTags {
				if strings.ContainsAny(strings.TrimPrefix(args[0], ref.Context().RegistryStr()), ":@") {
					return fmt.Errorf("tag can't be used with --all-tags/-a")
				}
			}
			o, done, err := rf.options(g)
			if err != nil {
				return err
			}
			defer done()
			st, release, err := g.openStoreWriting(cmd.Context())
			if err != nil {
				return err
			}
			defer release()
			if allTags {
				tags, err := push.Tags(cmd.Context(), ref.Context(), o)
				if err != nil {
					return err
				}
				refs = refs[:0]
				for _, t := range tags {
					refs = append(refs, ref.Context().Tag(t))
				}
			}
			for _, r := range refs {
				if !rf.quiet {
					fmt.Fprintf(g.stdout, "%s: Pulling from %s\n", r.Identifier(), store.FamiliarRepo(r))
				}
				res, err := push.Pull(cmd.Context(), st, r, o)
				if err != nil {
					return err
				}
				if rf.quiet {
					fmt.Fprintln(g.stdout, store.NormalizedName(r))
					continue
				}
				status := "Downloaded newer image for"
				if res.Fetched == 0 {
					status = "Image is up to date for"
				}
				fmt.Fprintf(g.stdout, "Digest: %s\nStatus: %s %s\n%s\n", res.Manifest, status, store.FamiliarName(r), store.NormalizedName(r))
			}
			return nil
		},
	}
	rf.add(cmd.Flags(), true)
	cmd.Flags().BoolVarP(&allTags, "all-tags", "a", false, "pull every tagged image of the repository")
	cmd.Flags().BoolVarP(&rf.quiet, "quiet", "q", false, "print only the image name")
	return cmd
}

func newPushCmd(g *globals) *cobra.Command {
	var rf registryFlags
	var allTags bool
	var digestFile, compression string
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] IMAGE [DESTINATION]",
		Short: "Push an image to a registry",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			comp, err := push.ParseCompression(compression)
			if err != nil {
				return err
			}
			if allTags && len(args) == 2 {
				return fmt.Errorf("--all-tags takes one repository, no destination")
			}
			o, done, err := rf.options(g)
			if err != nil {
				return err
			}
			defer done()
			st, err := g.openStoreWith(cmd.Context(), func() (push.Options, error) { return o, nil })
			if err != nil {
				return err
			}
			jobs, err := pushJobs(cmd, st, args, allTags)
			if err != nil {
				return err
			}
			for _, j := range jobs {
				h := j.src
				if comp != push.CompressionKeep {
					if h, err = push.Convert(cmd.Context(), st, h, comp); err != nil {
						return err
					}
				}
				if !rf.quiet {
					fmt.Fprintf(g.stdout, "The push refers to repository [%s]\n", j.dst.Context().Name())
				}
				res, err := push.Push(cmd.Context(), st, h, j.dst, o)
				if err != nil {
					return err
				}
				if digestFile != "" {
					if err := os.WriteFile(digestFile, []byte(res.Digest.DigestStr()), 0o644); err != nil {
						return fmt.Errorf("--digestfile: %w", err)
					}
				}
				if rf.quiet {
					fmt.Fprintln(g.stdout, res.Digest.String())
					continue
				}
				fmt.Fprintf(g.stdout, "%s: digest: %s size: %d\n", j.dst.Identifier(), res.Digest.DigestStr(), res.Size)
			}
			return nil
		},
	}
	rf.add(cmd.Flags(), false)
	cmd.Flags().BoolVarP(&allTags, "all-tags", "a", false, "push every tag of the repository")
	cmd.Flags().StringVar(&digestFile, "digestfile", "", "write the pushed manifest digest to this file")
	cmd.Flags().StringVar(&compression, "compression", "", "recompress layers first: gzip, zstd or estargz (default: push layers as stored)")
	cmd.Flags().BoolVarP(&rf.quiet, "quiet", "q", false, "print only the pushed digest reference")
	return cmd
}

type pushJob struct {
	src v1.Hash
	dst name.Reference
}

// pushJobs resolves what to push where: IMAGE to itself, IMAGE to DESTINATION (podman's form, with
// an optional docker:// prefix), or every stored tag of a repository.
func pushJobs(cmd *cobra.Command, st *store.Store, args []string, allTags bool) ([]pushJob, error) {
	ctx := cmd.Context()
	if allTags {
		repo, err := store.ParseName(args[0])
		if err != nil {
			return nil, fmt.Errorf("invalid reference %q: %w", args[0], err)
		}
		imgs, err := st.List(ctx)
		if err != nil {
			return nil, err
		}
		var jobs []pushJob
		for _, s := range imgs {
			for _, n := range s.Names {
				r, err := name.ParseReference(n)
				if err != nil || r.Context().Name() != repo.Context().Name() {
					continue
				}
				if _, ok := r.(name.Tag); ok {
					jobs = append(jobs, pushJob{src: s.Manifest, dst: r})
				}
			}
		}
		if len(jobs) == 0 {
			return nil, fmt.Errorf("no tagged image of %s in the store", store.FamiliarRepo(repo))
		}
		return jobs, nil
	}
	h, err := st.Resolve(ctx, args[0])
	if err != nil {
		return nil, fmt.Errorf("no such image %s: %w", args[0], err)
	}
	dest := args[0]
	if len(args) == 2 {
		dest = strings.TrimPrefix(args[1], "docker://")
	}
	ref, err := store.ParseName(dest)
	if err != nil {
		return nil, fmt.Errorf("invalid destination %q: %w", dest, err)
	}
	return []pushJob{{src: h, dst: ref}}, nil
}
