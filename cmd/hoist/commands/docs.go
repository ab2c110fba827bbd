package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// DocsRoot returns hoist's command tree as the generated reference shows it
// (hack/gendocs, `make docs`): the documented default of --root rather than
// the generator's, and no generation date. The output of the generator then
// depends only on the command tree, so a test can check that the committed
// copy is current.
func DocsRoot() *cobra.Command {
	root := newRoot(&globals{stdin: os.Stdin, stdout: io.Discard, stderr: io.Discard}, true)
	if f := root.PersistentFlags().Lookup("root"); f != nil {
		f.DefValue = "/var/lib/hoist"
	}
	root.DisableAutoGenTag = true
	return root
}

// GenCompletions writes the bash (hoist.bash), zsh (_hoist) and fish
// (hoist.fish) completion scripts of root into dir.
func GenCompletions(root *cobra.Command, dir string) error { return genCompletions(root, dir) }

// genCompletions writes root's bash, zsh and fish completion scripts into dir.
func genCompletions(root *cobra.Command, dir string) error {
	for name, gen := range map[string]func(io.Writer) error{
		"hoist.bash": func(w io.Writer) error { return root.GenBashCompletionV2(w, true) },
		"_hoist":     root.GenZshCompletion,
		"hoist.fish": func(w io.Writer) error { return root.GenFishCompletion(w, true) },
	} {
		f, err := os.Create(filepath.Join(dir, name))
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

// Commands whose first argument is an image or a container, for shell
// completion (by name, under the root and in the image/container groups).
var (
	imageArgCmds     = map[string]int{"rmi": 0, "rm": 0, "tag": 1, "push": 1, "history": 1, "save": 0, "inspect": 0, "run": 1, "create": 1, "convert": 1}
	containerArgCmds = map[string]int{"start": 0, "stop": 0, "restart": 0, "kill": 0, "rm": 0, "logs": 1, "exec": 1, "attach": 1,
		"top": 1, "stats": 0, "port": 1, "commit": 1, "wait": 0, "rename": 1, "inspect": 0}
)

// registerCompletions makes the shell complete image references and
// container names for the commands that take them, reading root's store and
// containers when the shell asks.
func registerCompletions(root *cobra.Command, g *globals) {
	images, containers := g.imageNames, g.containerNames
	for _, c := range root.Commands() {
		switch c.Name() {
		case "image":
			for _, s := range c.Commands() {
				if n, ok := imageArgCmds[s.Name()]; ok && s.ValidArgsFunction == nil {
					s.ValidArgsFunction = completeNames(images, n)
				}
			}
		case "container":
			for _, s := range c.Commands() {
				if n, ok := containerArgCmds[s.Name()]; ok && s.ValidArgsFunction == nil {
					s.ValidArgsFunction = completeNames(containers, n)
				}
			}
		case "rm", "inspect":
			if c.ValidArgsFunction == nil {
				c.ValidArgsFunction = completeNames(func() []string { return append(containers(), images()...) }, 0)
			}
		default:
			if n, ok := imageArgCmds[c.Name()]; ok && c.ValidArgsFunction == nil {
				c.ValidArgsFunction = completeNames(images, n)
			} else if n, ok := containerArgCmds[c.Name()]; ok && c.ValidArgsFunction == nil {
				c.ValidArgsFunction = completeNames(containers, n)
			}
		}
	}
}

// completeNames returns a completion function offering the names list
// returns, for the first maxArgs positional arguments (0: all).
func completeNames(list func() []string, maxArgs int) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if maxArgs > 0 && len(args) >= maxArgs {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return list(), cobra.ShellCompDirectiveNoFileComp
	}
}

// imageNames are the stored images' names as users type them, for completion.
func (g *globals) imageNames() []string {
	st, err := g.openStore(context.Background())
	if err != nil {
		return nil
	}
	list, err := st.List(context.Background())
	if err != nil {
		return nil
	}
	var out []string
	for _, im := range list {
		for _, n := range im.Names {
			// As the user types them: busybox:latest, not docker.io/library/busybox:latest.
			n = strings.TrimPrefix(strings.TrimPrefix(n, "docker.io/"), "library/")
			out = append(out, n)
		}
	}
	return out
}

// containerNames are the containers' names, for completion.
func (g *globals) containerNames() []string {
	rt, err := g.openRuntime(context.Background())
	if err != nil {
		return nil
	}
	list, err := rt.List(context.Background())
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range list {
		out = append(out, c.Name)
	}
	return out
}
