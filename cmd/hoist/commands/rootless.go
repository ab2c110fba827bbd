package commands

import "github.com/hoistbuild/hoist/internal/rootless"

// serverRunning reports whether the user's rootless server runs (a variable for tests).
var serverRunning = rootless.Running

// outsideNamespace are the commands an ordinary user runs without the rootless namespaces: they
// mount nothing and touch only files the user owns (credentials in ~/.docker; the store's blobs and
// image index, which the namespace's root writes as the user), and they reach registries through
// the host's own network, loopback registries included (the namespace's network is not the host's).
var outsideNamespace = map[string]bool{
	"version": true, "help": true, "completion": true, "login": true, "logout": true, "search": true,
	"push": true, "pull": true,
}

// NeedsNamespace reports whether the command line args (without argv[0]) must run inside the
// rootless namespaces when hoist runs as an ordinary user.
func NeedsNamespace(args []string) bool {
	var words []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--root" || a == "--cpuprofile" || a == "--storage-driver" {
			i++ // a global flag's value
			continue
		}
		if len(a) > 0 && a[0] == '-' {
			continue // a global flag before the command
		}
		if words = append(words, a); len(words) == 2 {
			break
		}
	}
	switch {
	case len(words) == 0:
		return false // bare `hoist` prints help
	case words[0] == "system" && len(words) == 2 && words[1] == "stop":
		return serverRunning() // stopping a server that does not run starts none
	case words[0] == "image" && len(words) == 2:
		return !outsideNamespace[words[1]] // hoist image push|pull
	}
	return !outsideNamespace[words[0]]
}
