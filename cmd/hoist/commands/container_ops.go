package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/run/container"
)

func newStopCmd(g *globals) *cobra.Command {
	cmd := newStopLikeCmd(g, "stop", "Stop one or more running containers", (*container.Runtime).Stop)
	cmd.Long, cmd.Example = stopLong, stopExample
	return cmd
}

func newRestartCmd(g *globals) *cobra.Command {
	cmd := newStopLikeCmd(g, "restart", "Restart one or more containers", (*container.Runtime).Restart)
	cmd.Long, cmd.Example = restartLong, restartExample
	return cmd
}

// newStopLikeCmd is stop and restart: -t and -s, and one runtime call per container.
func newStopLikeCmd(g *globals, name, short string, op func(*container.Runtime, context.Context, string, container.StopOptions) error) *cobra.Command {
	var timeout int
	var signal string
	cmd := &cobra.Command{
		Use:   name + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			o := container.StopOptions{Signal: signal}
			if cmd.Flags().Changed("time") || cmd.Flags().Changed("timeout") {
				o.Timeout = &timeout
			}
			if _, err := container.ParseSignal(signal); signal != "" && err != nil {
				return &exitError{code: 125, err: fmt.Errorf("invalid signal: %w", err)}
			}
			return eachContainer(g, args, func(ref string) error { return op(rt, cmd.Context(), ref, o) })
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "signal to send to the container (default: its stop signal)")
	cmd.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing the container")
	cmd.Flags().IntVar(&timeout, "timeout", 10, "seconds to wait before killing the container (current docker's name of -t)")
	return cmd
}

func newKillCmd(g *globals) *cobra.Command {
	var sig string
	cmd := &cobra.Command{
		Use:     "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short:   "Kill one or more running containers",
		Long:    killLong,
		Example: killExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := container.ParseSignal(sig)
			if err != nil {
				return err
			}
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(g, args, func(ref string) error { return rt.Kill(cmd.Context(), ref, s) })
		},
	}
	cmd.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send to the container")
	return cmd
}

func newRmCmd(g *globals) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short:   "Remove one or more containers",
		Long:    rmLong,
		Example: rmExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			return eachContainer(g, args, func(ref string) error {
				err := rt.Remove(cmd.Context(), ref, force, volumes)
				if force && errors.Is(err, container.ErrNotFound) {
					return notFailure{err} // docker: rm -f of a missing container succeeds
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the removal of a running container (uses SIGKILL)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove anonymous volumes associated with the container")
	return cmd
}

func newWaitCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "wait CONTAINER [CONTAINER...]",
		Short:   "Block until one or more containers stop, then print their exit codes",
		Long:    waitLong,
		Example: waitExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			failed := false
			for _, ref := range args {
				code, err := rt.Wait(cmd.Context(), ref)
				if err != nil {
					fmt.Fprintf(g.stderr, "Error response from daemon: %v\n", err)
					failed = true
					continue
				}
				fmt.Fprintln(g.stdout, code)
			}
			if failed {
				return &exitError{code: 1}
			}
			return nil
		},
	}
}

func newRenameCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "rename CONTAINER NEW_NAME",
		Short:   "Rename a container",
		Long:    renameLong,
		Example: renameExample,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			return rt.Rename(cmd.Context(), args[0], args[1])
		},
	}
}

func newLogsCmd(g *globals) *cobra.Command {
	var o container.LogOptions
	var tail, since, until string
	cmd := &cobra.Command{
		Use:     "logs [OPTIONS] CONTAINER",
		Short:   "Fetch the logs of a container",
		Long:    logsLong,
		Example: logsExample,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Tail = -1
			if tail != "all" && tail != "" {
				n, err := strconv.Atoi(tail)
				if err != nil {
					return fmt.Errorf("invalid --tail %q", tail)
				}
				o.Tail = n
			}
			var err error
			if o.Since, err = parseSinceFlag(since); err != nil {
				return err
			}
			if o.Until, err = parseSinceFlag(until); err != nil {
				return err
			}
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			return rt.Logs(cmd.Context(), args[0], o, g.stdout, g.stderr)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "follow log output")
	cmd.Flags().BoolVarP(&o.Timestamps, "timestamps", "t", false, "show timestamps")
	cmd.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end of the logs")
	cmd.Flags().StringVar(&since, "since", "", "show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)")
	cmd.Flags().StringVar(&until, "until", "", "show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)")
	return cmd
}

// parseSinceFlag is parseSince for an optional flag value: "" is the zero time.
func parseSinceFlag(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	return parseSince(v)
}

// parseSince accepts a duration ("42m"), RFC 3339 or Unix seconds.
func parseSince(s string) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(n*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("invalid --since %q", s)
}

// signalName is for messages only.
func signalName(s syscall.Signal) string { return s.String() }
