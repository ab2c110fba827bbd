package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/store"

	"github.com/hoistbuild/hoist/internal/atomicfile"
)

func newSaveCmd(g *globals) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:     "save [OPTIONS] IMAGE [IMAGE...]",
		Short:   "Save images to a tar archive (docker-archive or oci-archive)",
		Long:    saveLong,
		Example: saveExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != store.FormatDockerArchive && format != store.FormatOCIArchive {
				return fmt.Errorf("--format: unknown format %q (docker-archive, oci-archive)", format)
			}
			st, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				return st.Save(cmd.Context(), g.stdout, args, format)
			}
			if fi, err := os.Lstat(output); err == nil && !fi.Mode().IsRegular() {
				// /dev/null, a FIFO, a symlink: written through, as docker does (renaming a file
				// over them would replace them).
				f, err := os.OpenFile(output, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				if err := st.Save(cmd.Context(), f, args, format); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			}
			// A regular file is replaced whole: a failed save leaves no partial file.
			return atomicfile.Write(output, 0o644, func(w io.Writer) error {
				return st.Save(cmd.Context(), w, args, format)
			})
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of stdout")
	cmd.Flags().StringVar(&format, "format", store.FormatDockerArchive, "archive format: docker-archive or oci-archive")
	return cmd
}

func newLoadCmd(g *globals) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "load [OPTIONS]",
		Short:   "Load images from a tar archive (docker-archive or oci-archive)",
		Long:    loadLong,
		Example: loadExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r io.Reader = g.stdin
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("--input: %w", err)
				}
				defer f.Close()
				r = f
			}
			st, release, err := g.openStoreWriting(cmd.Context())
			if err != nil {
				return err
			}
			defer release()
			loaded, err := st.Load(cmd.Context(), r)
			if err != nil {
				return err
			}
			if !quiet {
				printLoaded(g.stdout, loaded)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from a tar archive file instead of stdin")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress the load output")
	return cmd
}

// printLoaded prints docker load's lines: the names of the loaded images, or their IDs.
func printLoaded(w io.Writer, loaded []string) {
	for _, l := range loaded {
		if strings.HasPrefix(l, "sha256:") {
			fmt.Fprintf(w, "Loaded image ID: %s\n", l)
		} else {
			fmt.Fprintf(w, "Loaded image: %s\n", familiar(l))
		}
	}
}

func familiar(n string) string {
	ref, err := store.ParseName(n)
	if err != nil {
		return n
	}
	return store.FamiliarName(ref)
}

func newImportCmd(g *globals) *cobra.Command {
	var changes []string
	var message string
	cmd := &cobra.Command{
		Use:     "import [OPTIONS] file|- [REPOSITORY[:TAG]]",
		Short:   "Import a root filesystem tarball as a one-layer image",
		Long:    importLong,
		Example: importExample,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := store.ImportOptions{Changes: changes, Comment: message}
			var r io.Reader = g.stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			ref := ""
			if len(args) == 2 {
				ref = args[1]
			}
			return importImage(cmd.Context(), g, r, ref, opts)
		},
	}
	cmd.Flags().StringArrayVarP(&changes, "change", "c", nil, "apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL)")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message")
	return cmd
}

// importImage imports the root filesystem tar r as an image named ref and prints its ID.
func importImage(ctx context.Context, g *globals, r io.Reader, ref string, opts store.ImportOptions) error {
	st, release, err := g.openStoreWriting(ctx)
	if err != nil {
		return err
	}
	defer release()
	h, err := st.Import(ctx, r, ref, opts)
	if err != nil {
		return err
	}
	ii, err := st.Inspect(ctx, h.String())
	if err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, ii.ID)
	return nil
}
