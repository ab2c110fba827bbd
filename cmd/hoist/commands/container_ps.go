package commands

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/run/container"
)

// psRow is one container as ps templates see it (docker's field names).
type psRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Ports, Status, State, Names, Networks, Mounts string
	Labels                                                                                   string
}

func newPsCmd(g *globals) *cobra.Command {
	var all, quiet, noTrunc, latest bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ps [OPTIONS]",
		Aliases: []string{"container ls"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			list, err := rt.List(cmd.Context())
			if err != nil {
				return err
			}
			match, err := psFilter(filters, all)
			if err != nil {
				return err
			}
			now := time.Now()
			var rows []psRow
			for _, c := range list {
				if !match(c) {
					continue
				}
				rows = append(rows, makeRow(c, now, noTrunc))
				if latest {
					break
				}
			}
			if quiet {
				for _, r := range rows {
					fmt.Fprintln(g.stdout, r.ID)
				}
				return nil
			}
			if format == "" || format == "table" {
				format = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
			}
			return renderRows(g, format, rows)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVarP(&latest, "latest", "l", false, "show the latest created container")
	cmd.Flags().StringVar(&format, "format", "", "format output using a Go template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output based on conditions provided (status=, name=, id=, label=)")
	return cmd
}

func makeRow(c *container.Container, now time.Time, noTrunc bool) psRow {
	id := c.ID
	command := strings.Join(c.Command(), " ")
	if !noTrunc {
		id = id[:12]
		if len([]rune(command)) > 20 {
			command = string([]rune(command)[:19]) + "…"
		}
	}
	var labels []string
	for k, v := range c.Config.Labels {
		labels = append(labels, k+"="+v)
	}
	var mounts []string
	for _, m := range c.Config.Mounts {
		mounts = append(mounts, m.Source)
	}
	return psRow{
		ID: id, Image: c.Config.Image, Command: `"` + command + `"`,
		CreatedAt:  c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		RunningFor: container.HumanDuration(now.Sub(c.Created)) + " ago", Ports: container.PortsText(c),
		Status: container.StatusText(c, now), State: c.State.Status, Names: c.Name,
		Networks: c.Config.Network, Mounts: strings.Join(mounts, ","), Labels: strings.Join(labels, ","),
	}
}

// psFilter builds the -f predicate (several values of one key: any; keys: all).
func psFilter(filters []string, all bool) (func(*container.Container) bool, error) {
	by := map[string][]string{}
	for _, f := range filters {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", f)
		}
		switch k {
		case "status", "name", "id", "label", "ancestor":
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
		by[k] = append(by[k], v)
	}
	if len(by["status"]) > 0 {
		all = true
	}
	return func(c *container.Container) bool {
		if !all && !c.State.Running() {
			return false
		}
		for k, vs := range by {
			ok := false
			for _, v := range vs {
				switch k {
				case "status":
					ok = ok || c.State.Status == v
				case "name":
					ok = ok || strings.Contains(c.Name, strings.TrimPrefix(v, "/"))
				case "id":
					ok = ok || strings.HasPrefix(c.ID, v)
				case "ancestor":
					ok = ok || c.Config.Image == v || strings.HasPrefix(c.Config.ImageID, v)
				case "label":
					lk, lv, hasV := strings.Cut(v, "=")
					cv, has := c.Config.Labels[lk]
					ok = ok || has && (!hasV || cv == lv)
				}
			}
			if !ok {
				return false
			}
		}
		return true
	}, nil
}

// renderRows prints rows with a docker-style template ("table ..." adds a header).
func renderRows(g *globals, format string, rows []psRow) error {
	table := strings.HasPrefix(format, "table ")
	format = strings.TrimPrefix(format, "table ")
	format = strings.ReplaceAll(format, `\t`, "\t")
	tmpl, err := template.New("ps").Funcs(template.FuncMap{
		"json":  func(v any) string { return fmt.Sprintf("%q", v) },
		"upper": strings.ToUpper, "lower": strings.ToLower, "join": strings.Join,
	}).Parse(format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	w := g.stdout
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
		w = tw
		header := psRow{ID: "CONTAINER ID", Image: "IMAGE", Command: "COMMAND", CreatedAt: "CREATED AT",
			RunningFor: "CREATED", Ports: "PORTS", Status: "STATUS", State: "STATE", Names: "NAMES",
			Networks: "NETWORKS", Mounts: "MOUNTS", Labels: "LABELS"}
		if err := tmpl.Execute(w, header); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	for _, r := range rows {
		if err := tmpl.Execute(w, r); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(w)
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}
