package commands

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/builder"
)

func newPruneCmd(g *globals, use string) *cobra.Command {
	var all, force bool
	var keep string
	var filters []string
	cmd := &cobra.Command{
		Use:     use,
		Short:   "Remove build cache (never what an image uses)",
		Long:    pruneLong,
		Example: pruneExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := cachePruneOptions(all, keep, filters)
			if err != nil {
				return err
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			b, err := builder.New(g.root, st)
			if err != nil {
				return err
			}
			rep, err := b.Prune(cmd.Context(), opts)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "Deleted %d cache records, %d blobs, %d snapshots, %d cache mounts\nTotal reclaimed space: %s\n",
				rep.Records, rep.Blobs, rep.Snapshots, rep.Mounts, humanSize(rep.Reclaimed))
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "remove all build cache, not just what no image uses")
	f.BoolVarP(&force, "force", "f", false, "do not prompt (hoist never prompts)")
	f.StringVar(&keep, "keep-storage", "", "keep at most this much build cache (e.g. 500MB, 2GB)")
	f.StringArrayVar(&filters, "filter", nil, "until=DURATION: only remove cache unused for that long")
	return cmd
}

// cachePruneOptions parses build-cache prune's --keep-storage and --filter until=DURATION.
func cachePruneOptions(all bool, keep string, filters []string) (builder.PruneOptions, error) {
	opts := builder.PruneOptions{All: all}
	if keep != "" {
		n, err := units.RAMInBytes(keep)
		if err != nil {
			return opts, fmt.Errorf("--keep-storage: %w", err)
		}
		opts.KeepStorage = n
	}
	for _, f := range filters {
		k, v, _ := strings.Cut(f, "=")
		if k != "until" {
			return opts, fmt.Errorf("--filter %q: only until=DURATION is supported", f)
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return opts, fmt.Errorf("--filter %q: %w", f, err)
		}
		opts.Until = d
	}
	return opts, nil
}

func newBuilderCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage the build cache", Long: builderLong, Example: builderExample}
	cmd.AddCommand(newPruneCmd(g, "prune"))
	return cmd
}

func newSystemCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage hoist's storage and its rootless server", Long: systemLong, Example: systemExample}
	cmd.AddCommand(newSystemStopCmd(g), newInfoCmd(g), &cobra.Command{
		Use:     "df",
		Short:   "Show disk usage",
		Long:    systemDfLong,
		Example: systemDfExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			b, err := builder.New(g.root, st)
			if err != nil {
				return err
			}
			u, err := b.DiskUsage(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
			fmt.Fprintf(tw, "Images\t%d\t%d\t%s\t%s\n", u.Images, u.ActiveImages, humanSize(u.ImagesSize), percent(u.ImagesReclaimable, u.ImagesSize))
			fmt.Fprintf(tw, "Build Cache\t%d\t0\t%s\t%s\n", u.CacheRecords, humanSize(u.CacheSize), humanSize(u.CacheSize))
			if err := tw.Flush(); err != nil {
				return err
			}
			if u.ImagesRemote > 0 {
				fmt.Fprintf(g.stdout, "\nImages also use %s of layers imported lazily from registry caches: not stored here, fetched when first needed.\n", humanSize(u.ImagesRemote))
			}
			return nil
		},
	})
	return cmd
}

func percent(part, total int64) string {
	if total == 0 {
		return humanSize(part)
	}
	return fmt.Sprintf("%s (%d%%)", humanSize(part), part*100/total)
}
