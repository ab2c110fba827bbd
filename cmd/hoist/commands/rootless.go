package commands

// outsideNamespace are the commands an ordinary user runs without the rootless namespaces: they
// touch neither the store nor a container (credentials live in the user's own ~/.docker).
var outsideNamespace = map[string]bool{
	"version": true, "help": true, "completion": true, "login": true, "logout": true, "search": true,
}

// NeedsNamespace reports whether the command line args (without argv[0]) must run inside the
// rootless namespaces when hoist runs as an ordinary user.
func NeedsNamespace(args []string) bool {
	for _, a := range args {
		if len(a) > 0 && a[0] == '-' {
			continue // a global flag before the command (--root DIR: DIR is not a command name either way)
		}
		return !outsideNamespace[a]
	}
	return len(args) > 0 // bare `hoist` prints help
}
