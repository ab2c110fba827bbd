// Command gendocs writes hoist's generated reference (markdown and man pages
// per command, shell completions) into the directory given, docs/ref by
// default: `make docs`.
package main

import (
	"fmt"
	"os"

	"github.com/hoistbuild/hoist/cmd/hoist/commands"
)

func main() {
	dir := "docs/ref"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := commands.GenerateDocs(dir); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}
