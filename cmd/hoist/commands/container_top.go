package commands

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newTopCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "top CONTAINER [ps OPTIONS]",
		Short:   "Display the running processes of a container",
		Long:    topLong,
		Example: topExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			res, err := rt.TopPs(cmd.Context(), args[0], args[1:])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(g.stdout, 20, 1, 3, ' ', 0) // docker's top table
			fmt.Fprintln(tw, strings.Join(res.Titles, "\t"))
			for _, p := range res.Processes {
				fmt.Fprintln(tw, strings.Join(p, "\t"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().SetInterspersed(false) // what follows the container is ps's
	return cmd
}
