// Command hoist builds, moves and runs OCI images without a daemon.
package main

import (
	"os"

	"github.com/hoistbuild/hoist/cmd/hoist/commands"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/container"
)

func main() {
	run.MaybeInit()          // the re-exec'd sandbox init never returns from here
	container.MaybeMonitor() // nor does a container's monitor
	os.Exit(commands.Execute(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
