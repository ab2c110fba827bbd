package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/run/container"
)

// splitCpArg splits "CONTAINER:PATH"; a path with a "/" before any ":" is local.
func splitCpArg(a string) (ctr, p string) {
	i := strings.Index(a, ":")
	if i <= 0 || strings.Contains(a[:i], "/") {
		return "", a
	}
	return a[:i], a[i+1:]
}

func newCpCmd(g *globals) *cobra.Command {
	var archive, follow, quiet bool
	cmd := &cobra.Command{
		Use:     "cp CONTAINER:SRC_PATH DEST_PATH|-\n  hoist cp SRC_PATH|- CONTAINER:DEST_PATH",
		Short:   "Copy files/folders between a container and the local filesystem",
		Long:    cpLong,
		Example: cpExample,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A stopped container's rootfs is mounted for the copy.
			if reexeced, err := inPrivateMounts(cmd); reexeced || err != nil {
				return err
			}
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			sc, sp := splitCpArg(args[0])
			dc, dp := splitCpArg(args[1])
			switch {
			case sc != "" && dc == "":
				return copyFromContainer(cmd.Context(), g, rt, sc, sp, dp, follow)
			case sc == "" && dc != "":
				return copyToContainer(cmd.Context(), g, rt, sp, dc, dp, follow)
			}
			return fmt.Errorf("copying between containers or between local paths is not supported: %s %s", args[0], args[1])
		},
	}
	// hoist always keeps uid/gid (docker's -a) and prints no progress (docker's -q).
	cmd.Flags().BoolVarP(&archive, "archive", "a", false, "archive mode (copy all uid/gid information; hoist always does)")
	cmd.Flags().BoolVarP(&follow, "follow-link", "L", false, "always follow symbol link in SRC_PATH (local sources)")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress progress output (hoist prints none)")
	return cmd
}

// copyFromContainer copies container sc's path sp to the local path dp (- is a tar on stdout).
func copyFromContainer(ctx context.Context, g *globals, rt *container.Runtime, sc, sp, dp string, follow bool) error {
	if follow {
		return errors.New("-L (--follow-link) is supported for a local source only")
	}
	if dp == "-" {
		return rt.CopyFrom(ctx, sc, sp, g.stdout)
	}
	dir, rename := localDest(dp, sp)
	pr, pw := io.Pipe()
	srcErr := make(chan error, 1)
	go func() { err := rt.CopyFrom(ctx, sc, sp, pw); srcErr <- err; pw.CloseWithError(err) }()
	err := container.ExtractTar("/", dir, rename, pr)
	pr.Close()
	if serr := <-srcErr; serr != nil {
		return serr // the source's error, not the pipe's
	}
	return err
}

// copyToContainer copies the local path sp (- is a tar on stdin) to container dc's path dp.
func copyToContainer(ctx context.Context, g *globals, rt *container.Runtime, sp, dc, dp string, follow bool) error {
	if sp == "-" {
		return rt.CopyTo(ctx, dc, dp, "", g.stdin)
	}
	abs, err := localSource(sp, follow)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(abs); err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(container.WriteTar("/", abs, pw)) }()
	defer pr.Close()
	dir, rename := dp, ""
	isDir := false
	if err := rt.CopyFrom(ctx, dc, dp, io.Discard); err == nil {
		isDir = rt.IsDir(ctx, dc, dp)
	}
	if !isDir {
		dir, rename = filepath.Dir(dp), filepath.Base(dp)
	} else if strings.HasSuffix(sp, "/.") {
		rename = "."
	}
	return rt.CopyTo(ctx, dc, dir, strings.TrimPrefix(rename, "."), pr)
}

// localSource is the absolute local source path; with -L a symlink is replaced by its target. A
// source naming a directory's contents (SRC/. or .) keeps its "/." (filepath.Abs drops it), which
// container.WriteTar turns into a "." top entry: the contents go into the destination directory.
func localSource(p string, follow bool) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if follow {
		if abs, err = filepath.EvalSymlinks(abs); err != nil {
			return "", err
		}
	}
	if filepath.Base(p) == "." {
		abs += "/."
	}
	return abs, nil
}

// localDest is docker's rule for a local destination: into an existing
// directory, else as the new name.
func localDest(dp, src string) (dir, rename string) {
	abs, err := filepath.Abs(dp)
	if err != nil {
		abs = dp
	}
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() {
		if strings.HasSuffix(src, "/.") {
			return abs, ""
		}
		return abs, ""
	}
	return filepath.Dir(abs), filepath.Base(abs)
}

func newCommitCmd(g *globals) *cobra.Command {
	var o container.CommitOptions
	var changes []string
	cmd := &cobra.Command{
		Use:     "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short:   "Create a new image from a container's changes",
		Long:    commitLong,
		Example: commitExample,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 {
				o.Ref = args[1]
			}
			o.Changes = changes
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			id, err := rt.Commit(cmd.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, id.String())
			return nil
		},
	}
	cmd.Flags().StringVarP(&o.Message, "message", "m", "", "commit message")
	cmd.Flags().StringVarP(&o.Author, "author", "a", "", "author")
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "apply Dockerfile instruction to the created image")
	cmd.Flags().BoolVarP(&o.Pause, "pause", "p", true, "pause the container during commit")
	return cmd
}
