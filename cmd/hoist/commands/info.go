package commands

import (
	"encoding/json"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/internal/format"
	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/internal/sysinfo"
	"github.com/hoistbuild/hoist/run/network"
)

func newInfoCmd(g *globals) *cobra.Command {
	var tmpl string
	cmd := &cobra.Command{
		Use:     "info [OPTIONS]",
		Short:   "Display system-wide information",
		Long:    infoLong,
		Example: infoExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			driver, err := g.storageDriver()
			if err != nil {
				return err
			}
			in, err := sysinfo.Collect(sysinfo.Options{Root: g.root, RuntimeDir: runtimeDir(), Driver: driver, Version: Version})
			if err != nil {
				return err
			}
			return writeInfo(g, in, tmpl)
		},
	}
	cmd.Flags().StringVarP(&tmpl, "format", "f", "", "format the output: json, or a Go template (docker's fields: {{.Driver}}, {{.CgroupVersion}}, ...)")
	return cmd
}

// runtimeDir is where this hoist keeps runtime state.
func runtimeDir() string {
	if rootless.Active() {
		return rootless.RuntimeDir()
	}
	return filepath.Dir(network.StateDir)
}

func writeInfo(g *globals, in *sysinfo.Info, tmpl string) error {
	switch tmpl {
	case "":
		if err := in.WriteText(g.stdout); err != nil {
			return err
		}
		in.WriteWarnings(g.stderr)
		return nil
	case "json":
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(g.stdout, string(b))
		return err
	}
	t, err := format.Parse(tmpl)
	if err != nil {
		return &exitError{code: 125, err: fmt.Errorf("--format: %w", err)}
	}
	if err := t.Execute(g.stdout, in); err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	_, err = fmt.Fprintln(g.stdout)
	return err
}

func newSystemStopCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "stop [OPTIONS]",
		Short:   "Stop the rootless server",
		Long:    systemStopLong,
		Example: systemStopExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case rootless.Active():
				pid, err := rootless.Stop(force)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.stdout, "Stopped the rootless server (pid %d)\n", pid)
			case rootless.Needed():
				fmt.Fprintln(g.stdout, "No rootless server is running")
			default:
				fmt.Fprintln(g.stdout, "hoist runs as root here: there is no rootless server")
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the containers and hoist commands still running in the rootless namespaces")
	return cmd
}
