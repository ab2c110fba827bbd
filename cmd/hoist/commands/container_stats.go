package commands

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/internal/format"
	"github.com/hoistbuild/hoist/run/container"
)

func newStatsCmd(g *globals) *cobra.Command {
	var noStream, all bool
	var tmpl string
	cmd := &cobra.Command{
		Use:     "stats [OPTIONS] [CONTAINER...]",
		Short:   "Display a live stream of container(s) resource usage statistics",
		Long:    statsLong,
		Example: statsExample,
		RunE: func(cmd *cobra.Command, args []string) error {
			return streamStats(cmd.Context(), g, args, all, noStream, tmpl)
		},
	}
	cmd.Flags().StringVar(&tmpl, "format", "", "format output using a Go template, 'table', 'table TEMPLATE' or 'json'")
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "disable streaming stats and only pull the first result")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	return cmd
}

// streamStats prints the stats of the containers refs (all running ones, or with all every one,
// when none is given) until ctx ends, or once with noStream.
func streamStats(ctx context.Context, g *globals, refs []string, all, noStream bool, tmpl string) error {
	rt, err := g.openRuntime(ctx)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		if refs, err = statsTargets(ctx, rt, all); err != nil {
			return err
		}
	}
	// On a terminal each frame replaces the last one, as docker does (clear screen, cursor home).
	redraw := !noStream && isTerminal(g.stdout)
	for {
		samples, err := rt.StatsAll(ctx, refs, 500*time.Millisecond)
		if err != nil {
			if ctx.Err() != nil && !noStream {
				return nil
			}
			return err
		}
		rows := make([]any, 0, len(samples))
		for _, s := range samples {
			rows = append(rows, statsView(s.Container.ID, s.Container.Name, s.Usage))
		}
		if redraw {
			fmt.Fprint(g.stdout, "\033[2J\033[H")
		}
		if err := format.List(g.stdout, tmpl, statsTable, statsHeader, rows); err != nil || noStream {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// statsTargets are the containers stats shows without arguments: the running ones, or all.
func statsTargets(ctx context.Context, rt *container.Runtime, all bool) ([]string, error) {
	list, err := rt.List(ctx)
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, c := range list {
		if all || c.State.Running() {
			refs = append(refs, c.ID)
		}
	}
	return refs, nil
}

const statsTable = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"

var statsHeader = map[string]string{"ID": "CONTAINER ID", "Container": "CONTAINER", "Name": "NAME", "CPUPerc": "CPU %",
	"MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O", "PIDs": "PIDS"}

// statsRowView is one `stats` row as templates see it (docker's field names).
type statsRowView struct{ BlockIO, CPUPerc, Container, ID, MemPerc, MemUsage, Name, NetIO, PIDs string }

func statsView(id, name string, u container.Usage) statsRowView {
	mem := 0.0
	if u.MemLimit > 0 {
		mem = float64(u.MemUsage) / float64(u.MemLimit) * 100
	}
	return statsRowView{
		ID: id[:12], Container: id[:12], Name: name, CPUPerc: fmt.Sprintf("%.2f%%", u.CPUPercent),
		MemUsage: binSize(u.MemUsage) + " / " + binSize(u.MemLimit), MemPerc: fmt.Sprintf("%.2f%%", mem),
		NetIO:   format.HumanSize(float64(u.NetRx), 3) + " / " + format.HumanSize(float64(u.NetTx), 3),
		BlockIO: format.HumanSize(float64(u.BlockRead), 3) + " / " + format.HumanSize(float64(u.BlockWrite), 3),
		PIDs:    strconv.FormatUint(u.Pids, 10),
	}
}

// binSize is docker's BytesSize ("1.5MiB").
func binSize(n uint64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func newVolumeCmd(g *globals) *cobra.Command {
	vol := &cobra.Command{Use: "volume", Short: "Manage volumes", Long: volumeLong, Example: volumeExample}
	ls := &cobra.Command{
		Use:     "ls",
		Short:   "List volumes",
		Long:    volumeLsLong,
		Example: volumeLsExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			entries, err := os.ReadDir(filepath.Join(g.root, "volumes"))
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
			for _, e := range entries {
				fmt.Fprintf(tw, "local\t%s\n", e.Name())
			}
			return tw.Flush()
		},
	}
	rm := &cobra.Command{
		Use:     "rm VOLUME [VOLUME...]",
		Short:   "Remove one or more volumes",
		Long:    volumeRmLong,
		Example: volumeRmExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(g, args, func(name string) error { return rt.RemoveVolume(cmd.Context(), name) })
		},
	}
	vol.AddCommand(ls, rm)
	return vol
}
