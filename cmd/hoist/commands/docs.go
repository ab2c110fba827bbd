package commands

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// GenerateDocs writes hoist's generated reference into dir: a markdown page
// per command (dir/cli), a man page per command (dir/man, section 1) and the
// shell completion scripts (dir/completion: hoist.bash, _hoist for zsh,
// hoist.fish). The output depends only on the command tree, so a test can
// check that the committed copy is current.
func GenerateDocs(dir string) error {
	root := newRoot(&globals{stdin: os.Stdin, stdout: io.Discard, stderr: io.Discard})
	// The default of --root depends on who runs the generator: show the documented one.
	if f := root.PersistentFlags().Lookup("root"); f != nil {
		f.DefValue = "/var/lib/hoist"
	}
	root.DisableAutoGenTag = true
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
	for name, gen := range map[string]func(io.Writer) error{
		"hoist.bash": func(w io.Writer) error { return root.GenBashCompletionV2(w, true) },
		"_hoist":     root.GenZshCompletion,
		"hoist.fish": func(w io.Writer) error { return root.GenFishCompletion(w, true) },
	} {
		f, err := os.Create(filepath.Join(comp, name))
		if err != nil {
			return err
		}
		err = gen(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("completion %s: %w", name, err)
		}
	}
	return nil
}

// completeNames returns a completion function offering the names list
// returns (image references or container names), for the first maxArgs
// positional arguments (0: all).
func completeNames(list func() []string, maxArgs int) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return list(), cobra.ShellCompDirectiveNoFileComp
	}
}
