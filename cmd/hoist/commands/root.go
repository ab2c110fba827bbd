// Package commands holds hoist's cobra commands: flags in, one library call, output out.
package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/hoistbuild/hoist/internal/rootless"
	"github.com/hoistbuild/hoist/push"
	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/container"
	"github.com/hoistbuild/hoist/snapshot"
	"github.com/hoistbuild/hoist/store"
)

// Version is set at link time (-ldflags "-X ...commands.Version=...").
var Version = "dev"

// globals are the persistent flags, filled before any command runs.
type globals struct {
	root   string
	driver string // --storage-driver
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// openStore opens the image store under the root, protecting the images of the root's containers
// from removal and prunes (container.OpenStore). A remote-backed layer (imported lazily from a
// registry cache by a build) is fetched when first read, bound to ctx, with the registry settings of
// a registry command given no flags: hoist login's credentials, the default registry config.
func (g *globals) openStore(ctx context.Context) (*store.Store, error) {
	return g.openStoreWith(ctx, sync.OnceValues(func() (push.Options, error) {
		rf := defaultRegistryFlags()
		rf.quiet = true
		o, _, err := rf.options(g)
		return o, err
	}))
}

// openStoreWith is openStore fetching with the registry options regOpts returns. regOpts is called
// when a fetch starts, not before, so a broken registry config fails only the commands that fetch.
func (g *globals) openStoreWith(ctx context.Context, regOpts func() (push.Options, error)) (*store.Store, error) {
	if err := os.MkdirAll(g.root, 0o700); err != nil {
		return nil, fmt.Errorf("--root %s: %w", g.root, err)
	}
	fetch := func(src store.RemoteSource, d v1.Descriptor) (io.ReadCloser, error) {
		o, err := regOpts()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(g.stderr, "fetching layer %s (%s) from %s\n", d.Digest, humanSize(d.Size), src.Repository)
		return push.BlobFetcher(ctx, o)(src, d)
	}
	return container.OpenStore(g.root, store.WithFetcher(fetch))
}

// openStoreWriting opens the store and holds off garbage collection until release is called: for
// commands that write blobs before an image references them (pull, load, import).
func (g *globals) openStoreWriting(ctx context.Context) (*store.Store, func(), error) {
	st, err := g.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	release, err := st.GCLock(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	return st, release, nil
}

// inPrivateMounts makes a command that mounts things run in a mount namespace that dies with it: as
// root and not there yet, it re-executes the same command line there and reports (true, the child's
// status) once the child is done; otherwise it returns false and the command goes on.
// reexeced is set when this process handed its command to a child in a private mount namespace.
var reexeced bool

func inPrivateMounts(cmd *cobra.Command) (bool, error) {
	if run.InPrivateMounts() || os.Geteuid() != 0 {
		return false, nil
	}
	reexeced = true
	code, err := run.ReexecPrivateMounts(cmd.Context())
	if err != nil {
		return true, err
	}
	if code != 0 {
		return true, &exitError{code: code} // the child printed its own error
	}
	return true, nil
}

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
	bare bool // print err without the "Error: " prefix
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// Execute runs hoist with args and returns the process exit status.
func Execute(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(g, withGroups(args))
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		var ue *usageErr
		switch {
		case errors.As(ee.err, &ue) || ee.bare && ee.err != nil:
			fmt.Fprintln(stderr, ee.err.Error())
		case ee.err != nil:
			fmt.Fprintf(stderr, "Error: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "Error: %v\n", err)
	return 1
}

// usageErr is a command-line mistake, printed as docker prints it: the error, the usage line and
// where to find help, without an "Error:" prefix.
type usageErr struct {
	err        error
	usage, cmd string
}

func (e *usageErr) Error() string {
	return fmt.Sprintf("%v\n\nUsage:  %s\n\nRun '%s --help' for more information", e.err, e.usage, e.cmd)
}

func (e *usageErr) Unwrap() error { return e.err }

func usageError(cmd *cobra.Command, err error) error {
	return &usageErr{err: err, usage: cmd.UseLine(), cmd: cmd.CommandPath()}
}

// storageDriver is --storage-driver, checked.
func (g *globals) storageDriver() (snapshot.Driver, error) {
	d, err := snapshot.ParseDriver(g.driver)
	if err != nil {
		return "", &exitError{code: 125, err: fmt.Errorf("--storage-driver: %w", err)}
	}
	return d, nil
}

func defaultRoot() string {
	if r := os.Getenv("HOIST_ROOT"); r != "" {
		return r
	}
	if os.Geteuid() == 0 && !rootless.Active() {
		return "/var/lib/hoist"
	}
	return rootless.DataHome()
}

func newRoot(g *globals, groups bool) *cobra.Command {
	root := &cobra.Command{
		Use:           "hoist",
		Short:         "Build, push, pull and run OCI images without a daemon",
		Long:          rootLong,
		Example:       rootExample,
		SilenceUsage:  true,
		SilenceErrors: true,
		// -v, --version as docker's: the version line, exit 0.
		Version: Version,
	}
	root.SetVersionTemplate("hoist version {{.Version}}\n")
	root.Flags().BoolP("version", "v", false, "print version information and quit")
	root.PersistentFlags().StringVar(&g.root, "root", defaultRoot(), "hoist's storage directory (env HOIST_ROOT)")
	root.PersistentFlags().StringVar(&g.driver, "storage-driver", os.Getenv("HOIST_STORAGE_DRIVER"),
		"how build steps get a writable rootfs: overlay, fuse-overlayfs or copy (default: probed; env HOIST_STORAGE_DRIVER)")
	addProfiling(root)
	root.AddCommand(subcommands(g)...)
	if groups {
		root.AddCommand(newImageGroup(g), newContainerGroup(g))
	}
	registerCompletions(root, g)
	// docker's cobra setup: a flag error is a usage error, exit status 125, in every command.
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &exitError{code: 125, err: usageError(cmd, err)}
	})
	return root
}

// subcommands are hoist's commands, in help order.
func subcommands(g *globals) []*cobra.Command {
	return append(imageCommands(g), containerCommands(g)...)
}

// imageCommands are the image, registry and storage commands.
func imageCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newVersionCmd(g),
		newBuildCmd(g),
		newImagesCmd(g),
		newTagCmd(g),
		newRmiCmd(g),
		newInspectCmd(g),
		newHistoryCmd(g),
		newSaveCmd(g),
		newLoadCmd(g),
		newImportCmd(g),
		newPullCmd(g),
		newPushCmd(g),
		newPruneCmd(g, "prune"),
		newBuilderCmd(g),
		newSystemCmd(g),
		newInfoCmd(g),
		newLoginCmd(g),
		newLogoutCmd(g),
		newSearchCmd(g),
		newManifestCmd(g),
		newConvertCmd(g),
		newGenerateKeyPairCmd(g),
		newSignCmd(g),
		newVerifyCmd(g),
	}
}

// containerCommands are the container commands and the two management groups.
func containerCommands(g *globals) []*cobra.Command {
	return []*cobra.Command{
		newRunCmd(g),
		newCreateCmd(g),
		newStartCmd(g),
		newStopCmd(g),
		newRestartCmd(g),
		newKillCmd(g),
		newRmCmd(g),
		newWaitCmd(g),
		newRenameCmd(g),
		newPsCmd(g),
		newLogsCmd(g),
		newExecCmd(g),
		newAttachCmd(g),
		newPortCmd(g),
		newTopCmd(g),
		newStatsCmd(g),
		newVolumeCmd(g),
		newCpCmd(g),
		newCommitCmd(g),
	}
}

// withGroups reports whether a command line may need docker's management groups (`hoist image
// ls`, `hoist container rm`): they repeat every command with its flags, so they are built only for
// command lines that can use them (help and completion included), not for every start.
func withGroups(args []string) bool {
	if len(args) == 0 {
		return true
	}
	for _, a := range args {
		switch {
		case a == "image", a == "container", a == "help", a == "--help", a == "-h", strings.HasPrefix(a, "__complete"):
			return true
		}
	}
	return false
}

// addProfiling adds the hidden --cpuprofile flag, which profiles the command.
func addProfiling(root *cobra.Command) {
	var cpuprofile string
	root.PersistentFlags().StringVar(&cpuprofile, "cpuprofile", "", "write a Go CPU profile of the command to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	var stopProfile func()
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cpuprofile == "" {
			return nil
		}
		// The profile is buffered and written at the end by the process that did the work: a
		// command that re-executes itself in a private mount namespace leaves it to the child.
		var buf bytes.Buffer
		if err := pprof.StartCPUProfile(&buf); err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		stopProfile = func() {
			pprof.StopCPUProfile()
			if !reexeced {
				if err := os.WriteFile(cpuprofile, buf.Bytes(), 0o644); err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "--cpuprofile:", err)
				}
			}
		}
		return nil
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print hoist's version",
		Long:    versionLong,
		Example: versionExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(g.stdout, "hoist version %s\n", Version)
			return nil
		},
	}
}
