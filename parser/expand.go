package parser

import (
	"runtime"
	"strings"

	bkparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// Expander expands Dockerfile variables ($VAR, ${VAR:-default}, ...) with the escape token of the
// Dockerfile it came from. It is safe for concurrent use.
type Expander struct {
	lex *shell.Lex
}

// Expander returns the expander for the plan's escape token.
func (p *Plan) Expander() *Expander { return p.exp }

// Expand expands one word with env ("K=V" entries, later entries win).
func (e *Expander) Expand(word string, env []string) (string, error) {
	res, err := e.lex.ProcessWordWithMatches(word, shell.EnvsFromSlice(env))
	if err != nil {
		return "", err
	}
	return res.Result, nil
}

// ExpandWords expands a string into words the way Docker expands EXPOSE, VOLUME in shell form.
func (e *Expander) ExpandWords(word string, env []string) ([]string, error) {
	return e.lex.ProcessWords(word, shell.EnvsFromSlice(env))
}

// Platform describes the build and target platform for the predefined ARGs.
type Platform struct {
	OS, Arch, Variant string
}

// HostPlatform is the platform hoist runs on.
func HostPlatform() Platform { return Platform{OS: "linux", Arch: runtime.GOARCH} }

// String is "os/arch[/variant]".
func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Args returns the predefined platform ARGs as BuildKit's dockerfile frontend sets them (defaultArgs
// in dockerfile2llb/platform.go): BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT for the platform
// hoist runs on, TARGETPLATFORM, TARGETOS, TARGETARCH, TARGETVARIANT for p, the platform being built
// for (the zero Platform means the host's).
func (p Platform) Args() []string {
	if p.OS == "" {
		p = HostPlatform()
	}
	var out []string
	for _, pp := range []struct {
		prefix string
		p      Platform
	}{{"BUILD", HostPlatform()}, {"TARGET", p}} {
		out = append(out,
			pp.prefix+"PLATFORM="+pp.p.String(),
			pp.prefix+"OS="+pp.p.OS,
			pp.prefix+"ARCH="+pp.p.Arch,
			pp.prefix+"VARIANT="+pp.p.Variant)
	}
	return out
}

// PredefinedArgs are the ARG names that exist without a declaration (proxy settings and platform args).
var predefinedArgs = map[string]bool{
	"HTTP_PROXY": true, "http_proxy": true, "HTTPS_PROXY": true, "https_proxy": true,
	"FTP_PROXY": true, "ftp_proxy": true, "NO_PROXY": true, "no_proxy": true, "ALL_PROXY": true, "all_proxy": true,
}

// IsPredefinedArg reports whether name is one of Docker's predefined build args that can be set with
// --build-arg without an ARG instruction and never end up in the image's history.
func IsPredefinedArg(name string) bool { return predefinedArgs[name] }

func setEnv(env []string, k, v string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, k+"=") {
			out = append(out, e)
		}
	}
	return append(out, k+"="+v)
}

func lookupEnv(env []string, k string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], k+"="); ok {
			return v, true
		}
	}
	return "", false
}

// IsHeredocOnly reports whether a RUN command line is nothing but one heredoc marker (`<<EOF`), in which
// case the heredoc's content is the script.
func IsHeredocOnly(cmd string) bool {
	h, err := bkparser.ParseHeredoc(cmd)
	return err == nil && h != nil
}

// ChompHeredoc strips the leading tabs of every line (`<<-EOF`).
func ChompHeredoc(s string) string { return bkparser.ChompHeredocContent(s) }
