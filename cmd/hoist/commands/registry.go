package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/internal/format"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/store"
)

func newSearchCmd(g *globals) *cobra.Command {
	var sf searchFlags
	cmd := &cobra.Command{
		Use:     "search [OPTIONS] REGISTRY/TERM",
		Short:   "Search a registry's repositories (its _catalog) for TERM",
		Long:    searchLong,
		Example: searchExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sf.run(cmd.Context(), g, args[0])
		},
	}
	sf.rf.add(cmd.Flags(), false)
	cmd.Flags().IntVar(&sf.limit, "limit", 25, "maximum number of results")
	cmd.Flags().BoolVar(&sf.listTags, "list-tags", false, "list the tags of each repository found (podman's flag)")
	cmd.Flags().StringArrayVarP(&sf.filters, "filter", "f", nil, "filter output: stars=N, is-official=BOOL, is-automated=BOOL")
	cmd.Flags().StringVar(&sf.format, "format", "", "format output using a Go template (.Name .Description .StarCount .IsOfficial .IsAutomated), 'table' or 'json'")
	cmd.Flags().BoolVar(&sf.noTrunc, "no-trunc", false, "don't truncate output")
	return cmd
}

// searchFlags are search's flags.
type searchFlags struct {
	rf                registryFlags
	limit             int
	listTags, noTrunc bool
	filters           []string
	format            string
}

func (sf *searchFlags) run(ctx context.Context, g *globals, arg string) error {
	reg, term, err := searchTarget(arg)
	if err != nil {
		return err
	}
	sf.rf.quiet = true
	o, done, err := sf.rf.options(g)
	if err != nil {
		return err
	}
	defer done()
	repos, err := push.Search(ctx, reg, term, o)
	if err != nil {
		return err
	}
	var results []push.SearchResult
	for _, r := range repos {
		results = append(results, push.SearchResult{Name: reg + "/" + r})
	}
	if results, err = push.FilterSearch(results, sf.filters); err != nil {
		return err
	}
	if sf.limit > 0 && len(results) > sf.limit {
		results = results[:sf.limit]
	}
	if sf.listTags {
		tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
		defer tw.Flush()
		return printTags(ctx, tw, results, o)
	}
	rows := make([]any, 0, len(results))
	for _, r := range results {
		rows = append(rows, searchView(r, sf.noTrunc))
	}
	return format.List(g.stdout, sf.format, searchTable, searchHeader, rows)
}

// searchRowView is one search result as templates see it (docker's field names and renderings:
// "[OK]" for a true flag, the description cut at 45 characters unless --no-trunc).
type searchRowView struct {
	Name, Description, StarCount, IsOfficial, IsAutomated string
}

const searchTable = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}"

var searchHeader = map[string]string{"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
	"IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"}

func searchView(r push.SearchResult, noTrunc bool) searchRowView {
	ok := func(b bool) string {
		if b {
			return "[OK]"
		}
		return ""
	}
	desc := strings.ReplaceAll(r.Description, "\n", " ")
	if !noTrunc && len(desc) > 45 {
		desc = desc[:44] + "…"
	}
	return searchRowView{Name: r.Name, Description: desc, StarCount: strconv.Itoa(r.StarCount),
		IsOfficial: ok(r.IsOfficial), IsAutomated: ok(r.IsAutomated)}
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

// printTags prints search --list-tags: every tag of each repository of reg.
func printTags(ctx context.Context, w io.Writer, results []push.SearchResult, o push.Options) error {
	fmt.Fprintln(w, "NAME\tTAG")
	for _, r := range results {
		ref, err := store.ParseName(r.Name)
		if err != nil {
			return err
		}
		tags, err := push.Tags(ctx, ref.Context(), o)
		if err != nil {
			return err
		}
		for _, t := range tags {
			fmt.Fprintf(w, "%s\t%s\n", r.Name, t)
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
