package parser

import (
	"fmt"
	"strings"
)

// changeKinds are the instructions docker accepts in `import --change` and `commit --change`
// (plus STOPSIGNAL, which hoist has always accepted there).
var changeKinds = map[Kind]bool{KindCmd: true, KindEntrypoint: true, KindEnv: true, KindExpose: true,
	KindLabel: true, KindOnbuild: true, KindUser: true, KindVolume: true, KindWorkdir: true, KindStopSignal: true}

// ParseChanges parses docker's --change values, each one Dockerfile instruction, with the Dockerfile
// parser the builder uses (so `ENV A=1 B=2` is two variables and quoting follows Dockerfile rules).
// It returns the steps in order and the expander for their variables (expanded by the caller
// against the image's environment, as docker does). An instruction docker does not allow there is an
// error.
func ParseChanges(changes []string) ([]Step, *Expander, error) {
	if len(changes) == 0 {
		return nil, nil, nil
	}
	var src strings.Builder
	src.WriteString("FROM scratch\n")
	for _, c := range changes {
		if strings.ContainsAny(c, "\r\n") {
			return nil, nil, fmt.Errorf("--change %q: one instruction per --change", c)
		}
		src.WriteString(c + "\n")
	}
	p, err := Parse(strings.NewReader(src.String()), Options{File: "--change"})
	if err != nil {
		return nil, nil, err
	}
	if len(p.Stages) != 1 {
		return nil, nil, fmt.Errorf("from is not a valid change command")
	}
	steps := p.Stages[0].Steps
	for _, s := range steps {
		if !changeKinds[s.Kind()] {
			return nil, nil, fmt.Errorf("%s is not a valid change command", strings.ToLower(string(s.Kind())))
		}
	}
	return steps, p.Expander(), nil
}
