package builder

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hoistbuild/hoist/cache"
	"github.com/hoistbuild/hoist/parser"
	"github.com/hoistbuild/hoist/run"
)

// sandboxHostname is the hostname RUN steps see, as in BuildKit.
const sandboxHostname = "buildkitsandbox"

// dispatchRun runs a RUN step in a sandbox on an overlay of the stage's rootfs.
func (sr *stageRun) dispatchRun(ctx context.Context, s *parser.RunStep) (bool, error) {
	rp, err := sr.planRun(ctx, s)
	if err != nil {
		return false, err
	}
	kb := cache.NewKey(sr.st.key, "RUN").Strings("args", rp.args).Strings("env", rp.env).
		String("user", rp.user).String("workdir", rp.workdir).String("network", rp.network).
		Strings("mounts", rp.mounts.key).String("script", rp.script)
	runKey(kb, sr.bd.opts.Run, rp.insecure)
	createdBy := "RUN " + runCommandString(rp.args, sr.st.buildArgs, rp.env)
	next := sr.st.clone()
	return sr.fsStep(ctx, next, kb, createdBy, func(ctx context.Context, sfs *stepFS) error {
		return sr.runStep(ctx, sfs.root, rp)
	})
}

// runPlan is what a RUN step runs, all of it known before the cache key is computed.
type runPlan struct {
	step                   *parser.RunStep
	args                   []string
	script                 string // a heredoc with a shebang, run as a file; "" for none
	env                    []string
	user, workdir, network string
	insecure               bool // --security=insecure
	mounts                 *runMounts
}

// planRun expands a RUN step: its command, environment (a default PATH, the build args it uses
// marked), network, security (entitlement checked before the cache, as BuildKit does, so a cached
// result does not bypass it either) and mounts.
func (sr *stageRun) planRun(ctx context.Context, s *parser.RunStep) (*runPlan, error) {
	args, script, err := sr.runArgs(s)
	if err != nil {
		return nil, err
	}
	env := sr.env()
	if _, ok := lookupEnv(env, "PATH"); !ok {
		env = append(env, defaultPath)
	}
	for _, a := range sr.args {
		k, _, _ := strings.Cut(a, "=")
		if _, ok := sr.bd.opts.BuildArgs[k]; ok {
			sr.bd.markArgUsed(k)
		}
	}
	ro := sr.bd.opts.Run
	network, err := stepNetwork(s.Network, ro.Network)
	if err != nil {
		return nil, err
	}
	insecure := s.Security == "insecure"
	if insecure {
		if err := ro.checkEntitled(EntitlementSecurityInsecure); err != nil {
			return nil, err
		}
	}
	cfg := sr.st.cfg.Config
	workdir := cfg.WorkingDir
	if workdir == "" {
		workdir = "/"
	}
	rm, err := sr.runMounts(ctx, s)
	if err != nil {
		return nil, err
	}
	if _, ok := lookupEnv(env, "SSH_AUTH_SOCK"); rm.sshSock != "" && !ok {
		env = append(env, "SSH_AUTH_SOCK="+rm.sshSock) // as BuildKit's llb.Run with an ssh mount
	}
	return &runPlan{step: s, args: args, script: script, env: env, user: cfg.User, workdir: workdir,
		network: network, insecure: insecure, mounts: rm}, nil
}

// runStep runs rp in a sandbox on rootfs; a non-zero exit is a runError with the output's tail.
func (sr *stageRun) runStep(ctx context.Context, rootfs string, rp *runPlan) error {
	mounts, release, err := rp.mounts.materialize(ctx)
	if err != nil {
		return err
	}
	defer release()
	// Proxy build args reach the process without an ARG, outside the key and the history (BuildKit's
	// ProxyEnv).
	env := append(append(append([]string(nil), rp.env...), rp.mounts.env...), proxyEnv(sr.bd.opts.BuildArgs)...)
	if rp.script != "" {
		// A heredoc with a shebang runs as a file, bind-mounted read-only at /dev/pipes/<name>.
		dir, err := os.MkdirTemp(sr.bd.scratch.path, "pipes-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		f := filepath.Join(dir, "script")
		if err := os.WriteFile(f, []byte(rp.script), 0o755); err != nil {
			return err
		}
		mounts = append(mounts, run.Mount{Type: "bind", Source: f, Target: scriptPath(rp.step.Heredocs[0]), ReadOnly: true})
	}
	tail := newTail(12)
	out := sr.bd.progress.stepWriter()
	w := &teeWriter{a: out, b: tail}
	ro := sr.bd.opts.Run
	spec := run.Spec{Rootfs: rootfs, Args: rp.args, Env: env, Cwd: rp.workdir, User: rp.user,
		Hostname: sandboxHostname, Mounts: mounts, StateDir: sr.bd.scratch.path,
		ExtraHosts: hostLines(ro.ExtraHosts), ShmSize: ro.ShmSize, Rlimits: ro.Ulimits,
		Security: run.Security{Privileged: rp.insecure}}
	code, err := runSandbox(ctx, spec, rp.network, run.IO{Stdout: w, Stderr: w})
	if err != nil {
		return err
	}
	if code != 0 {
		return &runError{args: rp.args, code: code, tail: tail.String()}
	}
	return nil
}

// runCommandString is the history entry of a RUN without "RUN ": the declared ARGs as "|N K=V ..."
// (each once, at its first declaration, with its current value) and the command, as BuildKit writes it.
func runCommandString(args []string, declared []declaredArg, env []string) string {
	var pairs []string
	idx := map[string]int{}
	for _, a := range declared {
		v, ok := lookupEnv(env, a.key)
		if !ok && a.value != nil {
			v = *a.value
		}
		if i, ok := idx[a.key]; ok {
			pairs[i] = a.key + "=" + v
			continue
		}
		idx[a.key] = len(pairs)
		pairs = append(pairs, a.key+"="+v)
	}
	if len(pairs) > 0 {
		pairs = append([]string{"|" + strconv.Itoa(len(pairs))}, pairs...)
	}
	return strings.Join(append(pairs, args...), " ")
}

// proxyEnv is the environment BuildKit gives every RUN from the proxy build args (any case of
// HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY, ALL_PROXY), each in upper and lower case; the last of
// several spellings in sorted order wins.
func proxyEnv(buildArgs map[string]string) []string {
	if len(buildArgs) == 0 {
		return nil
	}
	names := []string{"HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY"}
	vals := make([]string, len(names))
	keys := make([]string, 0, len(buildArgs))
	for k := range buildArgs {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		for i, n := range names {
			if strings.EqualFold(k, n) {
				vals[i] = buildArgs[k]
			}
		}
	}
	var out []string
	for i, n := range names {
		if vals[i] != "" {
			out = append(out, n+"="+vals[i], strings.ToLower(n)+"="+vals[i])
		}
	}
	return out
}

// runArgs builds the command of a RUN step (shell form, exec form, heredocs as BuildKit handles them)
// and, for a heredoc script with a shebang, the script's content.
func (sr *stageRun) runArgs(s *parser.RunStep) ([]string, string, error) {
	args := append([]string(nil), s.Args...)
	script := ""
	if len(s.Heredocs) > 0 {
		if len(args) != 1 || !s.Shell {
			return nil, "", fmt.Errorf("invalid heredoc RUN command: %v", args)
		}
		if parser.IsHeredocOnly(args[0]) {
			h := s.Heredocs[0]
			data := h.Data
			if h.Chomp {
				data = parser.ChompHeredoc(data)
			}
			if strings.HasPrefix(data, "#!") {
				// As BuildKit: the script file is run by the shell (sh -c /dev/pipes/NAME).
				script = data
				args = []string{scriptPath(h)}
			} else {
				args = []string{data}
			}
		} else {
			full := args[0]
			for _, h := range s.Heredocs {
				full += "\n" + h.Data + h.Name
			}
			args = []string{full}
		}
	}
	if s.Shell {
		args = append(append([]string(nil), sr.shell...), args...)
	}
	return args, script, nil
}

// scriptPath is where a heredoc script with a shebang is mounted for its RUN.
func scriptPath(h parser.Heredoc) string { return path.Join("/dev/pipes", h.Name) }

// runError is a RUN whose command exited non-zero.
type runError struct {
	args []string
	code int
	tail string
}

func (e *runError) Error() string {
	msg := fmt.Sprintf("process %q did not complete successfully: exit code: %d", strings.Join(e.args, " "), e.code)
	if t := strings.TrimRight(e.tail, "\n"); t != "" {
		msg += "\nlast output lines:\n  " + strings.ReplaceAll(t, "\n", "\n  ")
	}
	return msg
}

// tail keeps the last n lines written to it.
type tail struct {
	mu    sync.Mutex
	n     int
	lines [][]byte
	part  []byte
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	data := append(t.part, p...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, append([]byte(nil), data[:i]...))
		if len(t.lines) > t.n {
			t.lines = t.lines[1:]
		}
		data = data[i+1:]
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	t.part = append([]byte(nil), data...)
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, l := range t.lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	b.Write(t.part)
	return b.String()
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (t *teeWriter) Write(p []byte) (int, error) {
	t.a.Write(p)
	return t.b.Write(p)
}
