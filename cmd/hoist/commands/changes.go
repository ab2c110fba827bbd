package commands

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hoistbuild/hoist/store"
)

// parseChanges turns `--change "CMD [...]"`-style Dockerfile instructions into import options.
func parseChanges(changes []string) (store.ImportOptions, error) {
	var o store.ImportOptions
	for _, c := range changes {
		instr, rest, _ := strings.Cut(strings.TrimSpace(c), " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "CMD":
			o.Cmd = commandWords(rest)
		case "ENTRYPOINT":
			o.Entrypoint = commandWords(rest)
		case "ENV":
			k, v, ok := strings.Cut(rest, "=")
			if !ok {
				k, v, _ = strings.Cut(rest, " ")
			}
			o.Env = append(o.Env, strings.TrimSpace(k)+"="+strings.TrimSpace(v))
		case "EXPOSE":
			o.ExposedPorts = append(o.ExposedPorts, strings.Fields(rest)...)
		case "LABEL":
			k, v, _ := strings.Cut(rest, "=")
			if o.Labels == nil {
				o.Labels = map[string]string{}
			}
			o.Labels[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		case "USER":
			o.User = rest
		case "VOLUME":
			o.Volumes = append(o.Volumes, commandWords(rest)...)
		case "WORKDIR":
			o.WorkingDir = rest
		case "STOPSIGNAL":
			o.StopSignal = rest
		default:
			return o, fmt.Errorf("--change: %q is not a supported instruction", c)
		}
	}
	return o, nil
}

// commandWords is the JSON (exec) form if it parses, else the shell form under /bin/sh -c.
func commandWords(s string) []string {
	var words []string
	if err := json.Unmarshal([]byte(s), &words); err == nil {
		return words
	}
	return []string{"/bin/sh", "-c", s}
}
