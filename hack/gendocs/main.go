// Command gendocs writes hoist's generated reference into a directory
// (docs/ref by default: `make docs`): a markdown page per command (cli/), a
// man page per command (man/, section 1) and the shell completion scripts
// (completion/). It lives here, not in the hoist binary, so that hoist does
// not link (and initialise at every start) the markdown and man renderers.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/hoistbuild/hoist/cmd/hoist/commands"
)

func main() {
	dir := "docs/ref"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := generate(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

// generate writes the reference of hoist's command tree into dir.
func generate(dir string) error {
	root := commands.DocsRoot()
	cli, man, comp := filepath.Join(dir, "cli"), filepath.Join(dir, "man"), filepath.Join(dir, "completion")
	for _, d := range []string{cli, man, comp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, cli); err != nil {
		return fmt.Errorf("markdown: %w", err)
	}
	// A fixed date: the pages must not change with the day they are generated on.
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hdr := &doc.GenManHeader{Title: "HOIST", Section: "1", Source: "hoist", Manual: "hoist manual", Date: &date}
	if err := doc.GenManTree(root, hdr, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	return commands.GenCompletions(root, comp)
}
