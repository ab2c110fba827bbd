package commands

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// docker's management commands: `hoist image ls` is `hoist images`, `hoist container rm` is `hoist
// rm`, and so on. Each subcommand is a fresh instance of the top-level command under docker's name.

// sub is one subcommand of a group: its name, docker's aliases for it and the top-level constructor.
type sub struct {
	name    string
	aliases []string
	make    func(*globals) *cobra.Command
}

func newImageGroup(g *globals) *cobra.Command {
	return newGroup(g, "image", "Manage images", imageLong, imageExample, []sub{
		{"build", nil, newBuildCmd}, {"history", nil, newHistoryCmd}, {"import", nil, newImportCmd},
		{"inspect", nil, imageInspect}, {"load", nil, newLoadCmd}, {"ls", []string{"list"}, newImagesCmd},
		{"prune", nil, newImagePruneCmd}, {"pull", nil, newPullCmd}, {"push", nil, newPushCmd},
		{"rm", []string{"remove", "rmi"}, newRmiCmd}, {"save", nil, newSaveCmd}, {"tag", nil, newTagCmd},
	})
}

func newContainerGroup(g *globals) *cobra.Command {
	return newGroup(g, "container", "Manage containers", containerLong, containerExample, []sub{
		{"attach", nil, newAttachCmd}, {"commit", nil, newCommitCmd}, {"cp", nil, newCpCmd},
		{"create", nil, newCreateCmd}, {"exec", nil, newExecCmd}, {"inspect", nil, containerInspect},
		{"kill", nil, newKillCmd}, {"logs", nil, newLogsCmd}, {"ls", []string{"list", "ps"}, newPsCmd},
		{"port", nil, newPortCmd}, {"prune", nil, newContainerPruneCmd}, {"rename", nil, newRenameCmd},
		{"restart", nil, newRestartCmd}, {"rm", []string{"remove"}, newRmCmd}, {"run", nil, newRunCmd},
		{"start", nil, newStartCmd}, {"stats", nil, newStatsCmd}, {"stop", nil, newStopCmd},
		{"top", nil, newTopCmd}, {"wait", nil, newWaitCmd},
	})
}

// imageInspect and containerInspect are inspect limited to one kind, as `docker image inspect` is.
func imageInspect(g *globals) *cobra.Command     { return inspectOf(g, "image") }
func containerInspect(g *globals) *cobra.Command { return inspectOf(g, "container") }

func inspectOf(g *globals, typ string) *cobra.Command {
	cmd := newInspectCmd(g)
	_ = cmd.Flags().Set("type", typ)
	_ = cmd.Flags().MarkHidden("type")
	return cmd
}

// newGroup is a management command: help without arguments, docker's error for an unknown one.
func newGroup(g *globals, name, short, long, example string, subs []sub) *cobra.Command {
	group := &cobra.Command{
		Use:     name + " COMMAND",
		Short:   short,
		Long:    long,
		Example: example,
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			err := fmt.Errorf("unknown command: hoist %s %s", name, args[0])
			return &exitError{code: 1, err: &usageErr{err: err, usage: "hoist " + name + " COMMAND", cmd: "hoist " + name}}
		},
	}
	for _, s := range subs {
		c := s.make(g)
		_, rest, _ := strings.Cut(c.Use, " ")
		c.Use = strings.TrimSpace(s.name + " " + rest)
		c.Aliases = s.aliases
		group.AddCommand(c)
	}
	return group
}
