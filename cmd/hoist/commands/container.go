package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/creack/pty"
	units "github.com/docker/go-units"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoistbuild/hoist/run"
	"github.com/hoistbuild/hoist/run/container"
	"github.com/hoistbuild/hoist/snapshot"
)

// openRuntime opens the container runtime under the root (its store as openStore does).
func (g *globals) openRuntime(ctx context.Context) (*container.Runtime, error) {
	st, err := g.openStore(ctx)
	if err != nil {
		return nil, err
	}
	return container.Open(g.root, st)
}

// createFlags are docker's create/run flags.
type createFlags struct {
	name, workdir, user, hostname, entrypoint, network, restart, memory, stopSignal string
	env, envFiles, volumes, publish, expose, labels                                 []string
	capAdd, capDrop, securityOpt, devices, tmpfs, ulimits                           []string
	addHosts, dns, dnsSearch, dnsOptions, mounts, volumesFrom                       []string
	shmSize, pull, platform, cidFile, logDriver                                     string
	logOpts                                                                         []string
	tty, interactive, readOnly, publishAll, rm, privileged, init                    bool
	cpus                                                                            float64
	pidsLimit                                                                       int64
	stopTimeout                                                                     int
	health                                                                          healthFlags
}

func (f *createFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "assign a name to the container")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "container host name")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "overwrite the default ENTRYPOINT of the image")
	fs.StringVar(&f.network, "network", "", "connect a container to a network (bridge, host, none)")
	fs.StringVar(&f.network, "net", "", "alias of --network")
	_ = fs.MarkHidden("net")
	fs.StringVar(&f.restart, "restart", "no", "restart policy (no, always, on-failure[:N], unless-stopped)")
	fs.StringVarP(&f.memory, "memory", "m", "", "memory limit")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", -1, "timeout (in seconds) to stop a container")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set environment variables")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "read in a file of environment variables")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "bind mount a volume")
	fs.StringArrayVarP(&f.publish, "publish", "p", nil, "publish a container's port(s) to the host")
	fs.StringArrayVar(&f.expose, "expose", nil, "expose a port")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "set meta data on a container")
	fs.BoolVarP(&f.tty, "tty", "t", false, "allocate a pseudo-TTY")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "keep STDIN open even if not attached")
	fs.BoolVar(&f.readOnly, "read-only", false, "mount the container's root filesystem as read only")
	fs.BoolVarP(&f.publishAll, "publish-all", "P", false, "publish all exposed ports to random ports")
	fs.BoolVar(&f.rm, "rm", false, "automatically remove the container when it exits")
	fs.Float64Var(&f.cpus, "cpus", 0, "number of CPUs")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "tune container pids limit (-1 for unlimited)")
	fs.BoolVar(&f.privileged, "privileged", false, "give extended privileges to this container")
	fs.StringArrayVar(&f.capAdd, "cap-add", nil, "add Linux capabilities")
	fs.StringArrayVar(&f.capDrop, "cap-drop", nil, "drop Linux capabilities")
	fs.StringArrayVar(&f.securityOpt, "security-opt", nil, "security options")
	fs.StringArrayVar(&f.devices, "device", nil, "add a host device to the container")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs directory")
	fs.StringArrayVar(&f.mounts, "mount", nil, "attach a filesystem mount to the container (type=bind|volume|tmpfs,source=...,target=...)")
	fs.StringArrayVar(&f.volumesFrom, "volumes-from", nil, "mount volumes from the specified container(s) (CONTAINER[:ro|rw])")
	fs.StringArrayVar(&f.ulimits, "ulimit", nil, "ulimit options")
	fs.StringVar(&f.shmSize, "shm-size", "", "size of /dev/shm")
	fs.BoolVar(&f.init, "init", false, "run an init inside the container that forwards signals and reaps processes")
	fs.StringArrayVar(&f.addHosts, "add-host", nil, "add a custom host-to-IP mapping (host:ip; ip may be host-gateway)")
	fs.StringArrayVar(&f.dns, "dns", nil, "set custom DNS servers")
	fs.StringArrayVar(&f.dnsSearch, "dns-search", nil, "set custom DNS search domains")
	fs.StringArrayVar(&f.dnsOptions, "dns-option", nil, "set DNS options")
	fs.StringArrayVar(&f.dnsOptions, "dns-opt", nil, "alias of --dns-option")
	_ = fs.MarkHidden("dns-opt")
	fs.StringVar(&f.pull, "pull", container.PullMissing, `pull the image before creating: "always", "missing" or "never"`)
	fs.StringVar(&f.logDriver, "log-driver", "json-file", "logging driver for the container: json-file or none")
	fs.StringArrayVar(&f.logOpts, "log-opt", nil, "log driver options: max-size=SIZE, max-file=N (json-file rotation)")
	fs.StringVar(&f.cidFile, "cidfile", "", "write the container ID to the file (which must not exist)")
	fs.StringVar(&f.platform, "platform", "", "platform of the image to run: os/arch[/variant] (default: the image's, or this host's from an index); another architecture runs through a binfmt_misc emulator")
	f.health.register(fs)
	fs.Bool("help", false, "help for this command") // -h is --hostname, as in docker
}

// options turns the flags and the positional arguments into create options.
func (f *createFlags) options(cmd *cobra.Command, g *globals, args []string) (container.CreateOptions, error) {
	o := container.CreateOptions{
		Image: args[0], Args: args[1:], Name: f.name, WorkingDir: f.workdir, User: f.user,
		Hostname: f.hostname, Network: f.network, Restart: f.restart, StopSignal: f.stopSignal,
		Tty: f.tty, OpenStdin: f.interactive, ReadOnly: f.readOnly, PublishAll: f.publishAll,
		AutoRemove: f.rm, Volumes: f.volumes, Publish: f.publish, Expose: f.expose,
		Security: container.SecurityOptions{Privileged: f.privileged, CapAdd: f.capAdd, CapDrop: f.capDrop,
			SecurityOpt: f.securityOpt, Tmpfs: f.tmpfs, Devices: f.devices},
		Notes: func(msg string) { fmt.Fprintln(cmd.ErrOrStderr(), msg) }, Init: f.init,
		Pull: f.pull, Puller: runPuller(g), CIDFile: f.cidFile, LogDriver: f.logDriver, LogOpts: f.logOpts, Platform: f.platform, Mounts: f.mounts, VolumesFrom: f.volumesFrom, AddHosts: f.addHosts, DNS: run.DNS{Servers: f.dns, Search: f.dnsSearch, Options: f.dnsOptions},
		Health: f.health.options(),
	}

	if cmd.Flags().Changed("entrypoint") {
		o.Entrypoint = &f.entrypoint
	}
	if cmd.Flags().Changed("stop-timeout") {
		o.StopTimeout = &f.stopTimeout
	}
	if err := f.envAndLabels(&o); err != nil {
		return o, err
	}
	if err := f.limits(&o); err != nil {
		return o, err
	}
	if err := container.CheckStorageDriver(snapshot.Driver(g.driver)); err != nil {
		return o, &exitError{code: 125, err: fmt.Errorf("--storage-driver: %w", err)}
	}
	return o, nil
}

// envAndLabels fills o's environment (--env-file, then -e) and labels.
func (f *createFlags) envAndLabels(o *container.CreateOptions) error {
	for _, file := range f.envFiles {
		lines, err := readEnvFile(file)
		if err != nil {
			return err
		}
		o.Env = append(o.Env, lines...)
	}
	for _, e := range f.env {
		o.Env = append(o.Env, envValue(e)...)
	}
	if len(f.labels) > 0 {
		o.Labels = map[string]string{}
		for _, l := range f.labels {
			k, v, _ := strings.Cut(l, "=")
			o.Labels[k] = v
		}
	}
	return nil
}

// limits fills o's resource limits: -m, --shm-size, --ulimit, --cpus, --pids-limit.
func (f *createFlags) limits(o *container.CreateOptions) error {
	if f.memory != "" {
		n, err := units.RAMInBytes(f.memory)
		if err != nil {
			return fmt.Errorf("invalid argument %q for \"-m, --memory\" flag: %w", f.memory, err)
		}
		if n < 6<<20 {
			return errors.New("minimum memory limit allowed is 6MB")
		}
		o.Resources.Memory = n
	}
	if f.shmSize != "" {
		n, err := units.RAMInBytes(f.shmSize)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid argument %q for \"--shm-size\" flag: invalid size", f.shmSize)
		}
		o.ShmSize = n
	}
	ul, err := run.ParseUlimits(f.ulimits)
	if err != nil {
		return err
	}
	if err := run.CheckRlimits(ul); err != nil {
		return fmt.Errorf("--ulimit: %w", err)
	}
	o.Ulimits = ul
	if f.cpus < 0 {
		return fmt.Errorf("invalid argument %v for \"--cpus\" flag", f.cpus)
	}
	o.Resources.NanoCPUs = int64(f.cpus * 1e9)
	if f.pidsLimit > 0 {
		o.Resources.PidsLimit = f.pidsLimit
	}
	return nil
}

// envValue is one -e: KEY=VALUE as is, a bare KEY from hoist's environment
// (dropped when unset), as docker does.
func envValue(e string) []string {
	if strings.Contains(e, "=") {
		return []string{e}
	}
	if v, ok := os.LookupEnv(e); ok {
		return []string{e + "=" + v}
	}
	return nil
}

func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, envValue(line)...)
	}
	return out, sc.Err()
}

// dockerExit maps runtime errors to docker's exit statuses: the start
// error's own (125/126/127), 125 for hoist's other errors.
func dockerExit(err error) error {
	if err == nil {
		return nil
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return err
	}
	var se *container.StartError
	if errors.As(err, &se) {
		return &exitError{code: se.Code, err: err}
	}
	return &exitError{code: 125, err: err}
}

// stopAtArgs ends flag parsing at the first argument (the image, the container), as docker's run,
// create and exec do: what follows belongs to the command.
func stopAtArgs(cmd *cobra.Command) *cobra.Command {
	cmd.Flags().SetInterspersed(false)
	return cmd
}

func newRunCmd(g *globals) *cobra.Command {
	var f createFlags
	var detach bool
	var attach []string
	var detachKeys string
	cmd := &cobra.Command{
		Use:     "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:   "Create and run a new container from an image",
		Long:    runLong,
		Example: runExample,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) < 1 {
				return &exitError{code: 125, err: errors.New("\"hoist run\" requires at least 1 argument")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			streams, keys, err := runStreams(attach, detachKeys, f.interactive, detach)
			if err != nil {
				return err
			}
			rt, c, err := f.create(cmd, g, args)
			if err != nil {
				return err
			}
			switch {
			case detach:
				return runDetached(g, cmd, rt, c)
			case c.Config.Tty && c.Config.OpenStdin:
				return runInteractive(g, cmd, rt, c.ID, keys)
			}
			return runAttached(g, cmd, rt, c.ID, c.Config.Tty, streams)
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run container in background and print container ID")
	cmd.Flags().StringArrayVarP(&attach, "attach", "a", nil, "attach to STDIN, STDOUT or STDERR (default: all; STDIN needs -i)")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "ctrl-p,ctrl-q", "override the key sequence for detaching a container")
	return stopAtArgs(cmd)
}

// runStreams checks run's -a and --detach-keys before anything is created.
func runStreams(attach []string, detachKeys string, interactive, detach bool) (container.Attach, []byte, error) {
	streams, err := container.ParseAttach(attach, interactive, detach)
	if err != nil {
		return streams, nil, dockerExit(err)
	}
	keys, err := container.ParseDetachKeys(detachKeys)
	if err != nil {
		return streams, nil, &exitError{code: 125, err: err}
	}
	return streams, keys, nil
}

// runDetached is run -d: start under the monitor, print the ID (an --rm container that cannot
// start is removed).
func runDetached(g *globals, cmd *cobra.Command, rt *container.Runtime, c *container.Container) error {
	if err := rt.Start(cmd.Context(), c.ID); err != nil {
		if c.Config.AutoRemove {
			_ = rt.Remove(cmd.Context(), c.ID, true, true)
		}
		return dockerExit(err)
	}
	fmt.Fprintln(g.stdout, c.ID)
	return nil
}

// runInteractive is run -it: the container runs under its monitor and this process attaches to
// it, so Ctrl-P Ctrl-Q (or --detach-keys) leaves it running (docker prints nothing then, exit 0).
func runInteractive(g *globals, cmd *cobra.Command, rt *container.Runtime, id string, keys []byte) error {
	stdio := container.Stdio{Out: g.stdout, Err: g.stderr, In: g.stdin, DetachKeys: keys}
	if f, ok := g.stdin.(*os.File); ok && isTerminal(f) {
		stdio.Terminal = f
		if restore, err := makeRaw(f); err == nil {
			defer restore()
		}
	}
	code, err := rt.RunDetachable(cmd.Context(), id, stdio)
	switch {
	case errors.Is(err, container.ErrDetached):
		return nil
	case err != nil:
		return dockerExit(err)
	case code != 0:
		return &exitError{code: code}
	}
	return nil
}

// runAttached runs container id in this process attached to hoist's stdio.
func runAttached(g *globals, cmd *cobra.Command, rt *container.Runtime, id string, tty bool, a container.Attach) error {
	stdio := container.Stdio{ProxySignals: !tty}
	interactive := a.Stdin
	if a.Stdout {
		stdio.Out = g.stdout
	}
	if a.Stderr {
		stdio.Err = g.stderr
	}
	if interactive {
		stdio.In = g.stdin
	}
	if tty {
		if f, ok := g.stdin.(*os.File); ok && isTerminal(f) {
			stdio.Terminal = f
			if interactive {
				restore, err := makeRaw(f)
				if err == nil {
					defer restore()
				}
			}
		}
	}
	code, err := rt.RunAttached(cmd.Context(), id, stdio)
	if err != nil {
		return dockerExit(err)
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func newCreateCmd(g *globals) *cobra.Command {
	var f createFlags
	cmd := &cobra.Command{
		Use:     "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:   "Create a new container",
		Long:    createLong,
		Example: createExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, c, err := f.create(cmd, g, args)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, c.ID)
			return nil
		},
	}
	f.register(cmd.Flags())
	return stopAtArgs(cmd)
}

func newStartCmd(g *globals) *cobra.Command {
	var attach, interactive bool
	cmd := &cobra.Command{
		Use:     "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short:   "Start one or more stopped containers",
		Long:    startLong,
		Example: startExample,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.openRuntime(cmd.Context())
			if err != nil {
				return err
			}
			if attach || interactive {
				if len(args) > 1 {
					return errors.New("you cannot start and attach multiple containers at once")
				}
				c, err := rt.Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return runAttached(g, cmd, rt, c.ID, c.Config.Tty, container.Attach{Stdin: interactive && c.Config.OpenStdin, Stdout: true, Stderr: true})
			}
			return eachContainer(g, args, func(ref string) error { return rt.Start(cmd.Context(), ref) })
		},
	}
	cmd.Flags().BoolVarP(&attach, "attach", "a", false, "attach STDOUT/STDERR and forward signals")
	cmd.Flags().BoolVarP(&interactive, "interactive", "i", false, "attach container's STDIN")
	return cmd
}

// notFailure is an error eachContainer prints without failing the command.
type notFailure struct{ error }

func (e notFailure) Unwrap() error { return e.error }

// eachContainer applies fn to every ref, printing each ref that succeeded
// and an error line for each that failed, as docker does.
func eachContainer(g *globals, refs []string, fn func(ref string) error) error {
	failed := false
	for _, ref := range refs {
		if err := fn(ref); err != nil {
			fmt.Fprintf(g.stderr, "Error response from daemon: %v\n", err)
			failed = failed || !errors.As(err, new(notFailure))
			continue
		}
		fmt.Fprintln(g.stdout, ref)
	}
	if failed {
		return &exitError{code: 1}
	}
	return nil
}

// create makes the container the flags and arguments describe (run and create), with docker's exit
// statuses on failure.
func (f *createFlags) create(cmd *cobra.Command, g *globals, args []string) (*container.Runtime, *container.Container, error) {
	o, err := f.options(cmd, g, args)
	if err != nil {
		return nil, nil, dockerExit(err)
	}
	if term, ok := g.stdin.(*os.File); ok && o.Tty && isTerminal(term) {
		if ws, err := pty.GetsizeFull(term); err == nil {
			o.ConsoleSize = [2]uint{uint(ws.Rows), uint(ws.Cols)}
		}
	}
	rt, err := g.openRuntime(cmd.Context())
	if err != nil {
		return nil, nil, dockerExit(err)
	}
	c, err := rt.Create(cmd.Context(), o)
	if err != nil {
		return nil, nil, dockerExit(err)
	}
	return rt, c, nil
}
