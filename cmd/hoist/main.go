// Command hoist builds, moves and runs OCI images without a daemon.
package main

import (
	"os"

	"github.com/hoistbuild/hoist/cmd/hoist/commands"
	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/container"
)

func main() {
	run.MaybeInit()          // the re-exec'd sandbox init never returns from here
	container.MaybeMonitor() // nor does a container's monitor
	rootless.MaybeServe()    // nor the rootless server
	rootless.MaybeGitProxy() // nor git's connection helper (rootless)
	args := os.Args[1:]
	if rootless.Needed() && commands.NeedsNamespace(args) {
		os.Exit(rootless.Forward(args)) // an ordinary user's command runs in the rootless namespaces
	}
	os.Exit(commands.Execute(args, os.Stdin, os.Stdout, os.Stderr))
}
