package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func newTopCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "top CONTAINER",
		Short: "Display the running processes of a container",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			procs, err := rt.Top(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "UID\tPID\tPPID\tCMD")
			for _, p := range procs {
				fmt.Fprintf(tw, "%d\t%d\t%d\t%s\n", p.UID, p.PID, p.PPID, p.Cmd)
			}
			return tw.Flush()
		},
	}
}

func newStatsCmd(g *globals) *cobra.Command {
	var noStream, all bool
	cmd := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of container(s) resource usage statistics",
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			if len(args) == 0 {
				list, err := rt.List(cmd.Context())
				if err != nil {
					return err
				}
				for _, c := range list {
					if all || c.State.Running() {
						args = append(args, c.ID)
					}
				}
			}
			// On a terminal each frame replaces the last one, as docker does (clear screen, cursor home).
			redraw := !noStream && isTerminal(g.stdout)
			for {
				samples, err := rt.StatsAll(cmd.Context(), args, 500*time.Millisecond)
				if err != nil {
					if cmd.Context().Err() != nil && !noStream {
						return nil
					}
					return err
				}
				if redraw {
					fmt.Fprint(g.stdout, "\033[2J\033[H")
				}
				tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
				fmt.Fprintln(tw, "CONTAINER ID\tNAME\tCPU %\tMEM USAGE / LIMIT\tMEM %\tNET I/O\tBLOCK I/O\tPIDS")
				for _, s := range samples {
					c, u := s.Container, s.Usage
					mem := 0.0
					if u.MemLimit > 0 {
						mem = float64(u.MemUsage) / float64(u.MemLimit) * 100
					}
					fmt.Fprintf(tw, "%s\t%s\t%.2f%%\t%s / %s\t%.2f%%\t%s / %s\t%s / %s\t%d\n", c.ID[:12], c.Name,
						u.CPUPercent, binSize(u.MemUsage), binSize(u.MemLimit), mem,
						humanSize(int64(u.NetRx)), humanSize(int64(u.NetTx)),
						humanSize(int64(u.BlockRead)), humanSize(int64(u.BlockWrite)), u.Pids)
				}
				if err := tw.Flush(); err != nil || noStream {
					return err
				}
				if cmd.Context().Err() != nil {
					return nil
				}
			}
		},
	}
	cmd.Flags().BoolVar(&noStream, "no-stream", false, "disable streaming stats and only pull the first result")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	return cmd
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
	vol := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List volumes",
		Args:  cobra.NoArgs,
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
		Use:   "rm VOLUME [VOLUME...]",
		Short: "Remove one or more volumes",
		Args:  cobra.MinimumNArgs(1),
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
