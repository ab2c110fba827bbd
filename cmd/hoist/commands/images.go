package commands

import (
	"context"
	"encoding/json"
	"fmt"

	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/run/container"
	"github.com/hoistbuild/hoist/store"
)

func newImagesCmd(g *globals) *cobra.Command {
	var quiet, digests, noTrunc bool
	cmd := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"image ls"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			list, err := st.List(cmd.Context())
			if err != nil {
				return err
			}
			rows := imageRows(list, args)
			if quiet {
				seen := map[string]bool{}
				for _, r := range rows {
					id := shortID(r.id, noTrunc)
					if !seen[id] {
						seen[id] = true
						fmt.Fprintln(g.stdout, id)
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
			if digests {
				fmt.Fprintln(tw, "REPOSITORY\tTAG\tDIGEST\tIMAGE ID\tCREATED\tSIZE")
			} else {
				fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
			}
			for _, r := range rows {
				cols := []string{r.repo, r.tag}
				if digests {
					cols = append(cols, r.digest)
				}
				cols = append(cols, shortID(r.id, noTrunc), humanDuration(r.created), humanSize(r.size))
				fmt.Fprintln(tw, strings.Join(cols, "\t"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&digests, "digests", false, "show digests")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	return cmd
}

type imageRow struct {
	repo, tag, digest, id string
	created               time.Time
	size                  int64
}

func imageRows(list []store.ImageSummary, filter []string) []imageRow {
	var rows []imageRow
	for _, im := range list {
		base := imageRow{id: im.ID.String(), created: im.Created, size: im.Size, digest: im.Manifest.String()}
		if len(im.Names) == 0 {
			if len(filter) > 0 {
				continue
			}
			r := base
			r.repo, r.tag = "<none>", "<none>"
			rows = append(rows, r)
			continue
		}
		for _, n := range im.Names {
			ref, err := store.ParseName(n)
			if err != nil {
				continue
			}
			r := base
			r.repo, r.tag = store.FamiliarRepo(ref), store.FamiliarTag(ref)
			if len(filter) > 0 && !matchRepo(filter[0], r.repo, r.tag) {
				continue
			}
			rows = append(rows, r)
		}
	}
	return rows
}

func matchRepo(filter, repo, tag string) bool {
	fr, ft, hasTag := strings.Cut(filter, ":")
	if strings.Contains(ft, "/") { // a registry port, not a tag
		fr, hasTag = filter, false
	}
	if fr != repo {
		if ref, err := store.ParseName(fr); err != nil || store.FamiliarRepo(ref) != repo {
			return false
		}
	}
	return !hasTag || ft == tag
}

func shortID(id string, noTrunc bool) string {
	if noTrunc {
		return id
	}
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

// humanDuration is docker's "About an hour ago" style.
func humanDuration(t time.Time) string {
	if t.IsZero() {
		return "N/A"
	}
	d := time.Since(t)
	switch {
	case d < time.Second:
		return "Less than a second ago"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < 2*time.Minute:
		return "About a minute ago"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	case d < 2*time.Hour:
		return "About an hour ago"
	case d < 48*time.Hour:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	case d < 14*24*time.Hour:
		return fmt.Sprintf("%d days ago", int(d.Hours()/24))
	case d < 60*24*time.Hour:
		return fmt.Sprintf("%d weeks ago", int(d.Hours()/24/7))
	case d < 2*365*24*time.Hour:
		return fmt.Sprintf("%d months ago", int(d.Hours()/24/30))
	}
	return fmt.Sprintf("%d years ago", int(d.Hours()/24/365))
}

// humanSize is docker's decimal size ("4.26MB").
func humanSize(n int64) string {
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f := float64(n)
	i := 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}

func newTagCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			return st.Tag(cmd.Context(), args[0], args[1])
		},
	}
}

func newRmiCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			var failed []string
			for _, a := range args {
				if err := checkNotInUse(cmd.Context(), g, st, a, force); err != nil {
					fmt.Fprintf(g.stderr, "Error: %v\n", err)
					failed = append(failed, a)
					continue
				}
				lines, err := st.Remove(cmd.Context(), a, force)
				for _, l := range lines {
					fmt.Fprintln(g.stdout, l)
				}
				if err != nil {
					fmt.Fprintf(g.stderr, "Error: %v\n", err)
					failed = append(failed, a)
				}
			}
			if len(failed) > 0 {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the image even if it has several names")
	return cmd
}

func newInspectCmd(g *globals) *cobra.Command {
	var format, typ string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Display detailed information on containers and images",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			rt, err := container.Open(g.root, st)
			if err != nil {
				return err
			}
			var out []any
			for _, a := range args {
				if typ != "image" {
					if c, err := rt.Get(cmd.Context(), a); err == nil {
						out = append(out, rt.InspectView(c))
						continue
					} else if typ == "container" {
						return err
					}
				}
				ii, err := st.Inspect(cmd.Context(), a)
				if err != nil {
					return fmt.Errorf("no such object: %s: %w", a, err)
				}
				out = append(out, ii)
			}
			if format != "" {
				return printFormat(g, format, out)
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "    ")
			enc.SetEscapeHTML(false)
			return enc.Encode(out)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output using a Go template")
	cmd.Flags().StringVar(&typ, "type", "", "return JSON for specified type (container or image)")
	return cmd
}

// printFormat renders each item with a docker-style Go template ({{json .}} supported).
func printFormat(g *globals, format string, items []any) error {
	tmpl, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"join":  strings.Join,
		"upper": strings.ToUpper,
		"lower": strings.ToLower,
	}).Parse(format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	for _, it := range items {
		// Templates see the JSON field names, as docker's do.
		data, err := json.Marshal(it)
		if err != nil {
			return err
		}
		var generic any
		if err := json.Unmarshal(data, &generic); err != nil {
			return err
		}
		if err := tmpl.Execute(g.stdout, generic); err != nil {
			return fmt.Errorf("--format: %w", err)
		}
		fmt.Fprintln(g.stdout)
	}
	return nil
}

func newHistoryCmd(g *globals) *cobra.Command {
	var noTrunc, quiet, human bool
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			hist, err := st.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if quiet {
				for _, h := range hist {
					fmt.Fprintln(g.stdout, shortID(h.ID, noTrunc))
				}
				return nil
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
			for _, h := range hist {
				id := h.ID
				if id != "<missing>" {
					id = shortID(id, noTrunc)
				}
				by := strings.ReplaceAll(h.CreatedBy, "\t", " ")
				if !noTrunc && len(by) > 45 {
					by = by[:44] + "…"
				}
				created := humanDuration(h.Created)
				if !human {
					created = h.Created.Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, created, by, humanSize(h.Size), h.Comment)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVarP(&human, "human", "H", true, "print sizes and dates in human readable format")
	return cmd
}

// checkNotInUse refuses, as docker does, to delete an image a container was created from: without
// --force when any container uses it, and always when a running one does. Removing one of several
// names only untags and is always allowed.
func checkNotInUse(ctx context.Context, g *globals, st *store.Store, ref string, force bool) error {
	h, err := st.Resolve(ctx, ref)
	if err != nil {
		return nil // Remove reports it
	}
	if ref != h.String() && !strings.HasPrefix(h.Hex, strings.TrimPrefix(ref, "sha256:")) {
		list, err := st.List(ctx)
		if err != nil {
			return err
		}
		for _, im := range list {
			if im.Manifest == h && len(im.Names) > 1 {
				return nil // just an untag
			}
		}
	}
	rt, err := g.openRuntime(ctx)
	if err != nil {
		return err
	}
	containers, err := rt.List(ctx)
	if err != nil {
		return err
	}
	for _, c := range containers {
		if c.Config.Manifest != h.String() {
			continue
		}
		short := c.ID
		if len(short) > 12 {
			short = short[:12]
		}
		if c.State.Running() {
			return fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s", ref, short)
		}
		if !force {
			return fmt.Errorf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image", ref, short)
		}
	}
	return nil
}
