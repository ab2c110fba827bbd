package commands

// Long and Example texts of the container commands. See help_image.go for why they are constants;
// the `container ...` group shares them.

const runLong = `Create a container from an image in hoist's store and start it, as docker run does, without a
daemon: hoist sets up the container (overlay root filesystem, namespaces, cgroup, network, seccomp,
capabilities: docs/security.md) and runs the command. In the foreground the container lives in the
hoist process: its exit status is hoist's, and killing hoist kills the container. With -d a small
monitor process keeps the container and its logs and applies the --restart policy; hoist returns at
once and prints the container ID.

Differences from docker: an image that is not in the store is an error (hoist run never pulls: hoist
pull it first); the bridge network is hoist0 (10.89.0.0/16) with a userland proxy for every -p;
restart policies apply to detached containers only; no AppArmor or SELinux profile is applied.`

const runExample = `  hoist run --rm busybox echo hello
  hoist run -d --name web -p 8080:80 busybox httpd -f -p 80
  hoist run --rm -it -v "$PWD":/src -w /src busybox sh
  hoist run --rm --network none --read-only -m 64m --cpus 0.5 busybox true`

const createLong = `Create a container from an image in hoist's store without starting it (hoist start starts it):
the container's configuration is recorded under --root and its ID printed. The flags are those of
hoist run.`

const createExample = `  hoist create --name job busybox sh -c 'echo done'
  hoist start -a job`

const startLong = `Start created or stopped containers. Each runs detached, under its own monitor process, as with
hoist run -d; -a attaches to its output (and -i to its input) and waits for it, exiting with its
status.`

const startExample = `  hoist start web
  hoist start -a job`

const stopLong = `Stop running containers: send the stop signal (the image's STOPSIGNAL, --stop-signal, or
SIGTERM) to the container's first process, wait -t seconds (the container's --stop-timeout, or 10),
then send SIGKILL.`

const stopExample = `  hoist stop web
  hoist stop -t 2 web worker`

const restartLong = `Restart containers: stop each (as hoist stop does, if it runs), then start it again, detached.`

const restartExample = `  hoist restart web
  hoist restart -t 0 web`

const killLong = `Send a signal to the first process of running containers: SIGKILL unless -s names another (a
name, with or without SIG, or a number).`

const killExample = `  hoist kill web
  hoist kill -s HUP web`

const rmLong = `Remove containers: their writable layer, logs and configuration. A running container is refused
unless -f, which kills it first. Anonymous volumes are kept unless -v; named volumes always are.`

const rmExample = `  hoist rm job
  hoist rm -f -v web
  hoist rm $(hoist ps -aq --filter status=exited)`

const waitLong = `Block until containers stop, then print the exit status of each, one per line.`

const waitExample = `  hoist run -d --name job busybox sh -c 'sleep 1; exit 3'
  hoist wait job`

const renameLong = `Rename a container. Its ID, state and configuration are unchanged.`

const renameExample = `  hoist rename web web-old`

const psLong = `List containers: running ones, or all with -a. The columns, --filter keys and --format fields are
docker's; SIZE (-s) is the writable layer only.`

const psExample = `  hoist ps
  hoist ps -a --filter status=exited --format '{{.Names}} {{.Status}}'
  hoist ps -q --filter ancestor=busybox`

const logsLong = `Print what a container wrote to stdout and stderr (kept by hoist under --root, in docker's
json-file format). -f follows the log until the container stops.`

const logsExample = `  hoist logs web
  hoist logs --tail 20 -t web
  hoist logs --since 10m -f web`

const execLong = `Run a command in a running container: it joins the container's namespaces and cgroup with the
container's capabilities, seccomp filter and environment (plus -e), as docker exec does. The exit
status is the command's.`

const execExample = `  hoist exec web ls /
  hoist exec -it web sh
  hoist exec -u nobody -w /tmp -e MODE=debug web env`

const attachLong = `Attach the terminal's stdin, stdout and stderr to a running container's first process. With a
pty (the container was run with -t), Ctrl-P Ctrl-Q (or --detach-keys) detaches and leaves the
container running; signals hoist receives are forwarded to the container (--sig-proxy).`

const attachExample = `  hoist run -dit --name shell busybox sh
  hoist attach shell`

const portLong = `List a container's published ports (host address and port for each container port), or the
mapping of one container port.`

const portExample = `  hoist port web
  hoist port web 80/tcp`

const topLong = `Show the processes of a running container: hoist runs the host's ps with the given options (-ef
by default) and keeps the container's processes, as docker top does.`

const topExample = `  hoist top web
  hoist top web -o pid,comm,rss`

const statsLong = `Show containers' CPU, memory, network and block I/O use, read from their cgroups and network
namespaces, refreshed every second until interrupted (--no-stream: once).`

const statsExample = `  hoist stats --no-stream
  hoist stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}}' web`

const cpLong = `Copy files and directories between a container (running or stopped) and the local filesystem, or
a tar stream with -. Paths inside the container resolve inside it (symbolic links cannot lead out);
owners, modes and times are kept. SRC/. copies a directory's content.`

const cpExample = `  hoist cp web:/etc/hostname .
  hoist cp ./site/. web:/www
  hoist cp web:/etc - | tar -tv`

const commitLong = `Make an image of a container's changes: its writable layer on top of its image, with the
container's configuration and --change instructions. The container is not paused (docker pauses it
by default).`

const commitExample = `  hoist commit web web:snapshot
  hoist commit -m 'add config' -c 'CMD ["httpd", "-f"]' web 127.0.0.1:5000/team/web:2`

const containerLong = `Manage containers: docker's management command. Each subcommand is the top-level command of the
same name (hoist container ls is hoist ps, hoist container rm is hoist rm), with the same flags and
help.`

const containerExample = `  hoist container ls -a
  hoist container rm -f web
  hoist container prune -f`

const containerPruneLong = `Remove every stopped container. -f skips the confirmation prompt. Reclaimed space is reported as
0B (hoist does not measure the writable layers).`

const containerPruneExample = `  hoist container prune -f`

const volumeLong = `Manage the volumes of hoist's containers: anonymous ones (an image VOLUME, -v /path) and named
ones (-v NAME:/path), kept under --root/volumes. Bind mounts of host paths are not volumes.`

const volumeExample = `  hoist volume ls
  hoist volume rm data`

const volumeLsLong = `List volumes (all are local directories under --root/volumes).`

const volumeLsExample = `  hoist volume ls`

const volumeRmLong = `Remove volumes. A volume a container uses (even a stopped one) is refused.`

const volumeRmExample = `  hoist volume rm data`
