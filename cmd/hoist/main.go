// Command hoist builds, moves and runs OCI images without a daemon.
package main

import (
	"os"

	"github.com/hoistbuild/hoist/cmd/hoist/commands"
	"github.com/hoistbuild/hoist/run"
)

func main() {
	run.MaybeInit() // the re-exec'd sandbox init never returns from here
	os.Exit(commands.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
