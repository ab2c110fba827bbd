package commands

import (
	"fmt"
	"text/tabwriter"

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
