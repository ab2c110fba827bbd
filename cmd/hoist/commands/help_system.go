package commands

// Long and Example texts of the storage and build-cache commands (prune, builder, system, version).
// See help_image.go for why they are constants.

const pruneLong = `Remove build cache: the cache records whose layers no image uses, their snapshots, and the blobs
no image or cache record uses any more (also those left by hoist rmi and image prune). Never what an
image in the store or a container's image uses, and never while a build, pull or load runs (it waits
for them). -a also removes the cache records images use (the images keep their layers), the cache
mounts (RUN --mount=type=cache) and the build history; --keep-storage keeps the most recently used
records up to that size (2GB is 2 GiB, as docker's units); --filter until=DURATION only removes what
was not used for that long. hoist prune is this command; docker's prune commands for containers and
images are hoist container prune and hoist image prune.`

const pruneExample = `  hoist prune
  hoist builder prune --keep-storage 2GB
  hoist builder prune --filter until=24h
  hoist builder prune -a`

const builderLong = `Manage hoist's build cache (docker builder): prune is its only subcommand.`

const builderExample = `  hoist builder prune --keep-storage 500MB`

const systemLong = `Manage hoist's storage directory (--root) and, for an ordinary user, the rootless server: df shows
disk usage, info is hoist info, stop stops the rootless server.`

const systemExample = `  hoist system df
  hoist system info
  hoist system stop`

const systemStopLong = `Stop this user's rootless server, the process that holds the user, mount and network namespaces
every rootless hoist command runs in, and with it the port helper and the uplink (pasta or
slirp4netns). The next hoist command starts a new one (with a changed /etc/subuid, a newly installed
pasta or slirp4netns, ...). It refuses while detached containers
or other hoist commands still run in the namespaces, saying how many; --force kills them first.
Without a running server, and as root (which has none), it says so and does nothing. podman's
counterpart is podman system migrate, which also stops its pause process.`

const systemStopExample = `  hoist system stop
  hoist system stop --force`

const systemDfLong = `Show the disk space hoist's storage directory uses: images (compressed size; those no container
uses are reclaimable) and build cache, as docker system df does for these two. Containers and
volumes are not counted. Layers a --cache-from import left remote-backed are reported apart: they
take no space until something reads them.`

const systemDfExample = `  hoist system df
  hoist --root /srv/hoist system df`

const versionLong = `Print hoist's version (the git description of the tree it was built from).`

const versionExample = `  hoist version`

const infoLong = `Display what hoist finds on this host, as docker info does: the storage driver build steps use
(the kernel's overlay, with userxattr in a user namespace; fuse-overlayfs; or the copy fallback) and
why a better one was not used, the cgroup version and whether hoist can create cgroups, whether it
runs rootless (with the user namespace's id mappings), networking, seccomp, the kernel, OS, CPUs,
memory, the storage and runtime directories, and the platforms this host can run: its own and those
binfmt_misc emulators registered with a preloaded interpreter (flag F) run. Warnings go to standard
error. --format json prints it as one JSON object; any other value is a Go template over the same
fields (docker's names where docker has the same fact: Driver, DriverStatus, CgroupDriver,
CgroupVersion, SecurityOptions, KernelVersion, OperatingSystem, OSType, Architecture, NCPU,
MemTotal, Name).`

const infoExample = `  hoist info
  hoist info --format '{{.Driver}}'
  hoist info --format json
  hoist --storage-driver fuse-overlayfs info`
