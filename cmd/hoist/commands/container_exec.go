package commands

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/run/container"
)

func newExecCmd(g *globals) *cobra.Command {
	var o container.ExecOptions
	var env, envFiles []string
	cmd := &cobra.Command{
		Use:     "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short:   "Execute a command in a running container",
		Long:    execLong,
		Example: execExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 2 {
				return &exitError{code: 125, err: errors.New("\"hoist exec\" requires at least 2 arguments")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, file := range envFiles {
				lines, err := readEnvFile(file)
				if err != nil {
					return &exitError{code: 125, err: err}
				}
				o.Env = append(o.Env, lines...)
			}
			for _, e := range env {
				o.Env = append(o.Env, envValue(e)...)
			}
			o.Args = args[1:]
			return runExec(cmd, g, args[0], o)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&o.Detach, "detach", "d", false, "detached mode: run command in the background")
	fs.BoolVarP(&o.Interactive, "interactive", "i", false, "keep STDIN open even if not attached")
	fs.BoolVarP(&o.Tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.StringArrayVarP(&env, "env", "e", nil, "set environment variables")
	fs.StringArrayVar(&envFiles, "env-file", nil, "read in a file of environment variables")
	fs.StringVarP(&o.User, "user", "u", "", "username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVarP(&o.WorkingDir, "workdir", "w", "", "working directory inside the container")
	return stopAtArgs(cmd)
}

// runExec runs o in container ref, with the caller's terminal when -t and stdin is one, and maps
// the result to docker's exit statuses.
func runExec(cmd *cobra.Command, g *globals, ref string, o container.ExecOptions) error {
	rt, err := g.openRuntime(cmd.Context())
	if err != nil {
		return dockerExit(err)
	}
	stdio := container.Stdio{In: g.stdin, Out: g.stdout, Err: g.stderr}
	if o.Tty {
		if f, ok := g.stdin.(*os.File); ok && isTerminal(f) {
			stdio.Terminal = f
			if o.Interactive {
				if restore, err := makeRaw(f); err == nil {
					defer restore()
				}
			}
		}
	}
	code, err := rt.Exec(cmd.Context(), ref, o, stdio)
	if err != nil {
		if errors.Is(err, container.ErrNotRunning) || errors.Is(err, container.ErrNotFound) {
			return &exitError{code: 1, err: err}
		}
		return dockerExit(err)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func newAttachCmd(g *globals) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:     "attach [OPTIONS] CONTAINER",
		Short:   "Attach local standard input, output, and error streams to a running container",
		Long:    attachLong,
		Example: attachExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := container.ParseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			c, err := rt.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			stdio := container.Stdio{Out: g.stdout, Err: g.stderr, DetachKeys: keys, ProxySignals: sigProxy && !c.Config.Tty}
			if !noStdin {
				stdio.In = g.stdin
			}
			if term, ok := g.stdin.(*os.File); ok && c.Config.Tty && isTerminal(term) {
				stdio.Terminal = term
				if restore, err := makeRaw(term); err == nil && !noStdin && c.Config.OpenStdin {
					defer restore()
				} else if err == nil {
					restore()
				}
			}
			return attachExit(rt.Attach(cmd.Context(), c.ID, stdio))
		},
	}
	cmd.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "proxy all received signals to the process")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "ctrl-p,ctrl-q", "override the key sequence for detaching a container")
	return cmd
}

// attachExit is attach's exit status: the container's, or 1 with docker's message on detaching.
func attachExit(code int, err error) error {
	switch {
	case errors.Is(err, container.ErrDetached):
		return &exitError{code: 1, err: err, bare: true} // docker: "read escape sequence", exit 1
	case err != nil:
		return err
	case code != 0:
		return &exitError{code: code}
	}
	return nil
}

func newPortCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short:   "List port mappings or a specific mapping for the container",
		Long:    portLong,
		Example: portExample,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			c, err := rt.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			want := ""
			if len(args) == 2 {
				want = args[1]
			}
			lines, err := c.PortLines(want)
			for _, l := range lines {
				fmt.Fprintln(g.stdout, l)
			}
			return err
		},
	}
}
