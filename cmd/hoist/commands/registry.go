package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

func newSearchCmd(g *globals) *cobra.Command {
	var rf registryFlags
	var limit int
	var listTags bool
	cmd := &cobra.Command{
		Use:     "search [OPTIONS] REGISTRY/TERM",
		Short:   "Search a registry's repositories (its _catalog) for TERM",
		Long:    searchLong,
		Example: searchExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, term, err := searchTarget(args[0])
			if err != nil {
				return err
			}
			rf.quiet = true
			o, done, err := rf.options(g)
			if err != nil {
				return err
			}
			defer done()
			repos, err := push.Search(cmd.Context(), reg, term, o)
			if err != nil {
				return err
			}
			if limit > 0 && len(repos) > limit {
				repos = repos[:limit]
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
			defer tw.Flush()
			if listTags {
				return printTags(cmd.Context(), tw, reg, repos, o)
			}
			printRepos(tw, reg, repos)
			return nil
		},
	}
	rf.add(cmd.Flags(), false)
	cmd.Flags().IntVar(&limit, "limit", 25, "maximum number of results")
	cmd.Flags().BoolVar(&listTags, "list-tags", false, "list the tags of each repository found (podman's flag)")
	return cmd
}

// searchTarget splits search's REGISTRY/TERM; a term without a registry is refused (Docker Hub's
// search service is not supported).
func searchTarget(arg string) (reg, term string, err error) {
	reg, term, ok := strings.Cut(arg, "/")
	if !ok || !strings.ContainsAny(reg, ".:") && reg != "localhost" {
		return "", "", fmt.Errorf("search %q: give the registry too (REGISTRY/TERM); Docker Hub's search service is not supported", arg)
	}
	return reg, term, nil
}

// printRepos prints search's table in docker's columns (a registry's catalog has no description,
// stars or flags).
func printRepos(w io.Writer, reg string, repos []string) {
	fmt.Fprintln(w, "NAME\tDESCRIPTION\tSTARS\tOFFICIAL\tAUTOMATED")
	for _, r := range repos {
		fmt.Fprintf(w, "%s/%s\t\t0\t\t\n", reg, r)
	}
}

// printTags prints search --list-tags: every tag of each repository of reg.
func printTags(ctx context.Context, w io.Writer, reg string, repos []string, o push.Options) error {
	fmt.Fprintln(w, "NAME\tTAG")
	for _, r := range repos {
		ref, err := store.ParseName(reg + "/" + r)
		if err != nil {
			return err
		}
		tags, err := push.Tags(ctx, ref.Context(), o)
		if err != nil {
			return err
		}
		for _, t := range tags {
			fmt.Fprintf(w, "%s/%s\t%s\n", reg, r, t)
		}
	}
	return nil
}

func newManifestCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "manifest", Short: "Inspect manifests in a registry", Long: manifestLong, Example: manifestExample}
	var rf registryFlags
	inspect := &cobra.Command{
		Use:     "inspect [OPTIONS] NAME[:TAG|@DIGEST]",
		Short:   "Print an image's manifest or index as the registry serves it",
		Long:    manifestInspectLong,
		Example: manifestInspectExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := store.ParseName(args[0])
			if err != nil {
				return fmt.Errorf("invalid reference %q: %w", args[0], err)
			}
			rf.quiet = true
			o, done, err := rf.options(g)
			if err != nil {
				return err
			}
			defer done()
			raw, _, err := push.Manifest(cmd.Context(), ref, o)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, raw, "", "   "); err != nil {
				return fmt.Errorf("manifest of %s is not JSON: %w", args[0], err)
			}
			buf.WriteByte('\n')
			_, err = g.stdout.Write(buf.Bytes())
			return err
		},
	}
	rf.add(inspect.Flags(), false)
	cmd.AddCommand(inspect)
	return cmd
}

func newConvertCmd(g *globals) *cobra.Command {
	var estargz bool
	var compression string
	cmd := &cobra.Command{
		Use:     "convert [--estargz | --compression gzip|zstd|estargz] SRC DST",
		Short:   "Recompress a stored image's layers into a new image DST",
		Long:    convertLong,
		Example: convertExample,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := convertCompression(estargz, compression)
			if err != nil {
				return err
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			h, err := st.Resolve(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("no such image %s: %w", args[0], err)
			}
			dst, err := store.ParseName(args[1])
			if err != nil {
				return fmt.Errorf("invalid destination %q: %w", args[1], err)
			}
			out, err := push.Convert(cmd.Context(), st, h, c)
			if err != nil {
				return err
			}
			if err := st.AddImage(cmd.Context(), out, store.NormalizedName(dst)); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, out)
			return nil
		},
	}
	cmd.Flags().BoolVar(&estargz, "estargz", false, "convert to eStargz (lazy-pullable gzip)")
	cmd.Flags().StringVar(&compression, "compression", "", "gzip, zstd or estargz")
	return cmd
}

// convertCompression is convert's target: --estargz or --compression, one of them.
func convertCompression(estargz bool, compression string) (push.Compression, error) {
	if estargz {
		if compression != "" && compression != string(push.CompressionEstargz) {
			return "", fmt.Errorf("--estargz conflicts with --compression %s", compression)
		}
		compression = string(push.CompressionEstargz)
	}
	c, err := push.ParseCompression(compression)
	if err != nil {
		return "", err
	}
	if c == push.CompressionKeep {
		return "", fmt.Errorf("give --estargz or --compression")
	}
	return c, nil
}
