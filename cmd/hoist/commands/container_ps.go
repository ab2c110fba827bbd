package commands

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/internal/format"
	"github.com/hoistbuild/hoist/run/container"
)

const psTable = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

func newPsCmd(g *globals) *cobra.Command {
	var all, quiet, noTrunc, latest, size bool
	var last int
	var tmpl string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ps [OPTIONS]",
		Short:   "List containers",
		Long:    psLong,
		Example: psExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := container.ParsePsFilter(filters)
			if err != nil {
				return err
			}
			f.All, f.Last = all, last
			if latest {
				f.Last = 1
			}
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			list, err := rt.List(cmd.Context())
			if err != nil {
				return err
			}
			selected, err := f.Select(list)
			if err != nil {
				return err
			}
			return printPs(g, rt, selected, psFormat(tmpl, quiet, size), !noTrunc)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVarP(&latest, "latest", "l", false, "show the latest created container (includes all states)")
	cmd.Flags().IntVarP(&last, "last", "n", -1, "show n last created containers (includes all states)")
	cmd.Flags().BoolVarP(&size, "size", "s", false, "display total file sizes")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output using a Go template, 'table', 'table TEMPLATE' or 'json'")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil,
		"filter output (status=, name=, id=, label=, ancestor=, exited=, before=, since=, publish=, expose=, volume=, network=, health=)")
	return cmd
}

// psFormat is the effective --format: -q prints IDs, -s adds docker's SIZE column.
func psFormat(tmpl string, quiet, size bool) string {
	switch {
	case quiet:
		return "{{.ID}}"
	case size && (tmpl == "" || tmpl == "table"):
		return psTable + "\t{{.Size}}"
	}
	return tmpl
}

func printPs(g *globals, rt *container.Runtime, list []*container.Container, tmpl string, trunc bool) error {
	withSize := strings.Contains(tmpl, "Size") || strings.Contains(tmpl, "json")
	now := time.Now()
	var rows []any
	for _, c := range list {
		size := ""
		if withSize {
			size = format.HumanSize(float64(rt.WritableSize(c)), 3)
		}
		rows = append(rows, rt.PsView(c, now, trunc, size))
	}
	return format.List(g.stdout, tmpl, psTable, container.PsHeader, rows)
}
