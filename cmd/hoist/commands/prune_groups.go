package commands

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// confirm asks docker's prune question on stdin; only "y" or "yes" goes on.
func confirm(g *globals, warning string) bool {
	fmt.Fprintf(g.stdout, "WARNING! %s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(g.stdin).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}

func newContainerPruneCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove all stopped containers",
		Long:    containerPruneLong,
		Example: containerPruneExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !force && !confirm(g, "This will remove all stopped containers.") {
				return nil
			}
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			removed, err := rt.Prune(cmd.Context())
			if len(removed) > 0 {
				fmt.Fprintf(g.stdout, "Deleted Containers:\n%s\n\n", strings.Join(removed, "\n"))
			}
			fmt.Fprintln(g.stdout, "Total reclaimed space: 0B")
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	return cmd
}

func newImagePruneCmd(g *globals) *cobra.Command {
	var force, all bool
	cmd := &cobra.Command{
		Use:     "prune [OPTIONS]",
		Short:   "Remove unused images",
		Long:    imagePruneLong,
		Example: imagePruneExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			warning := "This will remove all dangling images."
			if all {
				warning = "This will remove all images without at least one container associated to them."
			}
			if !force && !confirm(g, warning) {
				return nil
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			lines, freed, err := st.PruneImages(cmd.Context(), all, nil)
			if len(lines) > 0 {
				fmt.Fprintf(g.stdout, "Deleted Images:\n%s\n\n", strings.Join(lines, "\n"))
			}
			fmt.Fprintf(g.stdout, "Total reclaimed space: %s\n", humanSize(freed))
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	return cmd
}
