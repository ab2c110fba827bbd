package commands

import (
	"context"
	"encoding/json"
	"fmt"

	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/internal/format"
	"github.com/hoistbuild/hoist/run/container"
	"github.com/hoistbuild/hoist/store"
)

func newImagesCmd(g *globals) *cobra.Command {
	var quiet, digests, noTrunc, all bool
	var tmpl string
	var filters []string
	cmd := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short:   "List images",
		Long:    imagesLong,
		Example: imagesExample,
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
			f, err := st.ParseImageFilter(cmd.Context(), filters)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				f.Repository = args[0]
			}
			var rows []any
			for _, r := range f.Rows(list) {
				rows = append(rows, imageView(r, noTrunc))
			}
			return format.List(g.stdout, listFormat(tmpl, quiet, "{{.ID}}"), imagesTable(digests), imageHeader, rows)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "show all images (hoist keeps no intermediate images: the same as without -a)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&digests, "digests", false, "show digests")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output using a Go template, 'table', 'table TEMPLATE' or 'json'")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output (dangling=, reference=, label=, before=, since=)")
	return cmd
}

// listFormat is the effective --format of a listing: quiet prints only the ID.
func listFormat(format string, quiet bool, id string) string {
	if quiet {
		return id
	}
	return format
}

// imageRowView is one `images` row as templates see it (docker's field names).
type imageRowView struct {
	Containers, CreatedAt, CreatedSince, Digest, ID, Repository, SharedSize, Size, Tag, UniqueSize string
	VirtualSize                                                                                    string
}

var imageHeader = map[string]string{"Containers": "CONTAINERS", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED",
	"Digest": "DIGEST", "ID": "IMAGE ID", "Repository": "REPOSITORY", "SharedSize": "SHARED SIZE", "Size": "SIZE",
	"Tag": "TAG", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE"}

func imagesTable(digests bool) string {
	if digests {
		return "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	}
	return "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
}

func imageView(r store.ImageRow, noTrunc bool) imageRowView {
	im := r.Image
	return imageRowView{
		Containers: "N/A", CreatedAt: im.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		CreatedSince: humanDuration(im.Created), Digest: im.Manifest.String(), ID: shortID(im.ID.String(), noTrunc),
		Repository: r.Repository, SharedSize: "N/A", Size: format.HumanSize(float64(im.Size), 3), Tag: r.Tag,
		UniqueSize: "N/A", VirtualSize: format.HumanSize(float64(im.Size), 4),
	}
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
		Use:     "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short:   "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Long:    tagLong,
		Example: tagExample,
		Args:    cobra.ExactArgs(2),
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
		Use:     "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short:   "Remove one or more images",
		Long:    rmiLong,
		Example: rmiExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			var failed []string
			for _, a := range args {
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
	var tmpl, typ string
	cmd := &cobra.Command{
		Use:     "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short:   "Display detailed information on containers and images",
		Long:    inspectLong,
		Example: inspectExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			rt, err := container.Open(g.root, st)
			if err != nil {
				return err
			}
			// Like docker: what was found is printed, then the first error (exit status 1).
			var out []any
			var missing error
			for _, a := range args {
				v, err := inspectOne(cmd.Context(), rt, st, a, typ)
				if err != nil {
					if missing == nil {
						missing = err
					}
					continue
				}
				out = append(out, v)
			}
			if err := printInspect(g, tmpl, out); err != nil {
				return err
			}
			return missing
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format the output using a Go template")
	cmd.Flags().StringVar(&typ, "type", "", "return JSON for specified type (container or image)")
	return cmd
}

// inspectOne is a container's or an image's inspect view; typ ("container", "image") limits it.
func inspectOne(ctx context.Context, rt *container.Runtime, st *store.Store, ref, typ string) (any, error) {
	if typ != "image" {
		c, err := rt.Get(ctx, ref)
		if err == nil {
			return rt.InspectView(c), nil
		}
		if typ == "container" {
			return nil, fmt.Errorf("No such container: %s", ref)
		}
	}
	ii, err := st.Inspect(ctx, ref)
	if err != nil {
		if typ == "image" {
			return nil, fmt.Errorf("No such image: %s", ref)
		}
		return nil, fmt.Errorf("No such object: %s", ref)
	}
	return ii, nil
}

// printInspect prints inspect results: an indented JSON array, or each through the template.
func printInspect(g *globals, tmpl string, out []any) error {
	if tmpl != "" {
		return format.Objects(g.stdout, tmpl, out)
	}
	if out == nil {
		out = []any{}
	}
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "    ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

func newHistoryCmd(g *globals) *cobra.Command {
	var noTrunc, quiet, human bool
	var tmpl string
	cmd := &cobra.Command{
		Use:     "history [OPTIONS] IMAGE",
		Short:   "Show the history of an image",
		Long:    historyLong,
		Example: historyExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			hist, err := st.History(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var rows []any
			for _, h := range hist {
				rows = append(rows, historyView(h, noTrunc, human))
			}
			header := map[string]string{"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
				"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}
			if !human {
				header["CreatedSince"] = "CREATED AT"
			}
			return format.List(g.stdout, listFormat(tmpl, quiet, "{{.ID}}"),
				"table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", header, rows)
		},
	}
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVarP(&human, "human", "H", true, "print sizes and dates in human readable format")
	cmd.Flags().StringVar(&tmpl, "format", "", "format output using a Go template, 'table', 'table TEMPLATE' or 'json'")
	return cmd
}

// historyRowView is one `history` row as templates see it (docker's field names).
type historyRowView struct{ Comment, CreatedAt, CreatedBy, CreatedSince, ID, Size string }

func historyView(h store.HistoryEntry, noTrunc, human bool) historyRowView {
	v := historyRowView{ID: h.ID, Comment: h.Comment, CreatedAt: h.Created.Format(time.RFC3339),
		CreatedBy: strings.ReplaceAll(h.CreatedBy, "\t", " "), CreatedSince: humanDuration(h.Created),
		Size: format.HumanSize(float64(h.Size), 3)}
	if v.ID != "<missing>" {
		v.ID = shortID(v.ID, noTrunc)
	}
	if !noTrunc {
		v.CreatedBy = format.Ellipsis(v.CreatedBy, 45)
	}
	if !human {
		v.CreatedSince, v.Size = v.CreatedAt, strconv.FormatInt(h.Size, 10)
	}
	return v
}
