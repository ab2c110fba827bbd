// Package format renders hoist's listings and objects with docker's --format rules: "table" (or
// empty) for the command's default table, "table TEMPLATE" for a table with a header derived from the
// template, "json" for one JSON object per line, and any other Go template applied to each item.
package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"text/template"
)

// Funcs are the template functions docker's templates offer (a subset: json, join, split, upper,
// lower, title, truncate, pad, println).
var Funcs = template.FuncMap{
	"json": func(v any) (string, error) {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(buf.String()), nil
	},
	"join":  strings.Join,
	"split": strings.Split,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"title": strings.Title, //nolint:staticcheck // docker's own title is this one
	"truncate": func(s string, n int) string {
		if r := []rune(s); len(r) > n {
			return string(r[:n])
		}
		return s
	},
	"pad":     func(s string, l, r int) string { return strings.Repeat(" ", l) + s + strings.Repeat(" ", r) },
	"println": fmt.Sprintln,
}

// Parse parses a --format template with docker's functions; `\t` and `\n` written literally on a
// command line are tabs and newlines, as in docker.
func Parse(text string) (*template.Template, error) {
	text = strings.NewReplacer(`\t`, "\t", `\n`, "\n").Replace(text)
	t, err := template.New("").Funcs(Funcs).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template parsing error: %w", err)
	}
	return t, nil
}

// List writes rows as format says. defaultTable is the command's "table ..." format, used for an
// empty format or "table"; header gives each row field's column title (docker's "CONTAINER ID" for
// .ID). Rows are what the template sees: structs whose exported fields carry docker's names.
func List(w io.Writer, format, defaultTable string, header map[string]string, rows []any) error {
	switch format {
	case "", "table":
		format = defaultTable
	case "json":
		format = "{{json .}}"
	}
	table := strings.HasPrefix(format, "table")
	if table {
		format = strings.TrimPrefix(strings.TrimPrefix(format, "table"), " ")
	}
	tmpl, err := Parse(format)
	if err != nil {
		return err
	}
	out := w
	var tw *tabwriter.Writer
	if table {
		tw = tabwriter.NewWriter(w, 10, 1, 3, ' ', 0) // docker's table writer
		out = tw
		if err := execLine(out, tmpl, header); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if err := execLine(out, tmpl, r); err != nil {
			return err
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	return nil
}

func execLine(w io.Writer, tmpl *template.Template, v any) error {
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		return fmt.Errorf("template: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// Objects writes each item (inspect results) with a template as docker's inspect -f does: the
// template sees the item's JSON form, numbers kept exact (104857600, not 1.048576e+08). Unlike a
// listing's, the template is taken as is (a `\n` inside {{"\n"}} stays an escape).
func Objects(w io.Writer, format string, items []any) error {
	tmpl, err := template.New("").Funcs(Funcs).Parse(format)
	if err != nil {
		return fmt.Errorf("template parsing error: %w", err)
	}
	for _, it := range items {
		generic, err := JSONValue(it)
		if err != nil {
			return err
		}
		if err := execLine(w, tmpl, generic); err != nil {
			return err
		}
	}
	return nil
}

// JSONValue is v as its JSON encoding decodes into maps and slices, with numbers as json.Number so
// large integers print as integers.
func JSONValue(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, err
	}
	return generic, nil
}
