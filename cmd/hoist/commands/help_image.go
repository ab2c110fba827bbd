package commands

// Long and Example texts of the image commands (build, images, tag, rmi, inspect, history, save,
// load, import, convert, image prune). They are package-level constants so that the constructors
// stay short (cmdshape_test.go counts string literals as lines); the `image ...` group shares them.
// Every example was run against a scratch root (see docs/ref and README.md).

const rootLong = `hoist builds, pushes, pulls and runs OCI images without a daemon: every command is one
process that reads and writes the storage directory given by --root (env HOIST_ROOT; default
/var/lib/hoist as root, ~/.local/share/hoist otherwise) and exits. Commands, flags, output and exit
statuses follow docker's CLI: 125 for hoist's own errors (a bad flag, an unknown image), 126/127
when the command cannot be executed or is not found, otherwise the container's exit status.
docs/compatibility.md lists every intentional difference from docker and BuildKit.`

const rootExample = `  # make a busybox base image from the host's busybox-static (what "make base" does)
  go run ./hack/mkbusybox /bin/busybox > busybox-rootfs.tar
  hoist import --change 'CMD ["sh"]' busybox-rootfs.tar busybox:latest

  # build, run and push
  hoist build -t app:1 .
  hoist run --rm app:1
  hoist push app:1 127.0.0.1:5000/app:1`

const buildLong = `Build an image from a Dockerfile and a context, as "docker build" with BuildKit does, in this
process: no daemon, no BuildKit. The context is a directory, a git URL (#ref:subdir), an http(s)
URL of a tarball or of a lone Dockerfile, or - (a tar archive or a Dockerfile on stdin).

Stages run in parallel where the Dockerfile allows; RUN steps run in hoist's sandbox (the same
defaults as hoist run: capabilities, seccomp, masked paths, a network namespace and a cgroup per
step). Every step is cached under --root; a step that misses reuses what the same step made in the
last build (unchanged files are hardlinked, unchanged gzip members copied), so a rebuild after a
small change gives the same layers as a full one. The cache can be exported to and imported from a
registry or a directory (--cache-to, --cache-from); imported layers are fetched only when
something reads them.

--platform builds for other platforms; several (linux/amd64,linux/arm64) give one image index under
the tag. RUN for a foreign architecture goes through a binfmt_misc emulator (Debian's
qemu-user-static); stages under FROM --platform=$BUILDPLATFORM run natively, and steps the
platforms share run once.

Differences from docker: base images missing from the store are pulled from their registry (docker
does too), but hoist run never pulls; --progress=tty prints what plain does; image timestamps are
those of the cached steps, so a fully cached rebuild gives the same image ID.`

const buildExample = `  # build the Dockerfile in the current directory and tag the result
  hoist build -t app:1 .

  # another Dockerfile, a build argument, and only the stage "test"
  hoist build -f Dockerfile.ci --build-arg VERSION=1.2 --target test -t app:test .

  # show which steps would run and why, without building
  hoist build --explain -t app:1 .

  # share the build cache through a registry (mode=max keeps every stage's layers)
  hoist build --cache-to type=registry,ref=127.0.0.1:5000/app:cache,mode=max \
    --cache-from 127.0.0.1:5000/app:cache -t app:1 .

  # one image index for two platforms (RUN for arm64 through qemu-user-static)
  hoist build --platform linux/amd64,linux/arm64 -t app:1 .`

const imagesLong = `List the images in hoist's store: repository, tag, image ID, creation time and size. SIZE is the
compressed size of the layers (docker shows the unpacked size: the store does not keep it), and
DIGEST (--digests) is the manifest digest in the store, which every hoist image has. hoist keeps no
intermediate images, so -a lists the same images as without it.`

const imagesExample = `  hoist images
  hoist images busybox
  hoist images --filter dangling=true -q
  hoist images --format '{{.Repository}}:{{.Tag}} {{.Size}}'`

const tagLong = `Give an image in hoist's store another name. The target may name a registry
(127.0.0.1:5000/app:1) so that hoist push finds it; a name without a tag gets :latest.`

const tagExample = `  hoist tag busybox:latest mybox:1
  hoist tag app:1 127.0.0.1:5000/team/app:1`

const rmiLong = `Remove images from hoist's store. By name, the name is removed, and the image with its last name;
by ID or digest, the image and all its names. An image a container uses (even a stopped one) is
kept unless -f is given, and never removed while a container running it exists; an image with
names in several repositories needs -f when removed by ID. The layers' blobs stay on disk until
the next hoist prune, which deletes the blobs no image uses.`

const rmiExample = `  hoist rmi mybox:1
  hoist rmi -f 127.0.0.1:5000/team/app:1 app:1`

const inspectLong = `Print the JSON of containers and images, with docker's field names: the image's config and
manifest data, the container's state, config, host config and network settings (the fields listed
in run/container/inspect.go). A name that is both a container and an image is taken as the
container unless --type says otherwise. --format applies a Go template to each result.`

const inspectExample = `  hoist inspect busybox
  hoist inspect --format '{{.Config.Cmd}}' busybox
  hoist inspect --format '{{.State.Status}} {{.State.ExitCode}}' web`

const historyLong = `Show the history of an image: one line per history entry of its config, newest first, with the
instruction that made it and the size of its layer (compressed, where docker shows the unpacked
size).`

const historyExample = `  hoist history busybox
  hoist history --no-trunc --format '{{.CreatedBy}}' app:1`

const saveLong = `Write images from hoist's store to a tar archive, to stdout or to -o FILE. The default format is
docker-archive (what docker save writes and docker load reads); --format oci-archive writes an OCI
image layout (for skopeo, podman, containerd). Layers remote-backed by a --cache-from import are
fetched first.`

const saveExample = `  hoist save -o busybox.tar busybox
  hoist save --format oci-archive -o app.oci.tar app:1
  hoist save app:1 | gzip > app.tar.gz`

const loadLong = `Load images from a tar archive made by docker save, hoist save or podman save (docker-archive or
oci-archive, plain or compressed), from stdin or -i FILE, and print their names.`

const loadExample = `  hoist load -i busybox.tar
  gunzip -c app.tar.gz | hoist load`

const importLong = `Make a one-layer image from a root filesystem tarball (a file or - for stdin), as docker import
does: the tarball becomes the layer and --change sets the config with Dockerfile instructions
(CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL). Prints the image ID.`

const importExample = `  go run ./hack/mkbusybox /bin/busybox > busybox-rootfs.tar
  hoist import --change 'CMD ["sh"]' --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' busybox-rootfs.tar busybox:latest
  tar -C rootfs -c . | hoist import -m 'from rootfs' - mybase:1`

const convertLong = `Recompress a stored image's layers and store the result as a new image DST: gzip, zstd or
estargz (lazy-pullable gzip with a table of contents). The source image is unchanged. There is no
docker equivalent (nerdctl image convert is the model); hoist push --compression converts while
pushing instead.`

const convertExample = `  hoist convert --estargz app:1 app:1-esgz
  hoist convert --compression zstd app:1 app:1-zstd`

const imageLong = `Manage images: docker's management command. Each subcommand is the top-level command of the same
name (hoist image ls is hoist images, hoist image rm is hoist rmi), with the same flags and help.`

const imageExample = `  hoist image ls
  hoist image rm mybox:1
  hoist image prune -a -f`

const imagePruneLong = `Remove images no container uses: without -a only dangling ones (no name), with -a every image no
container (running or stopped) was created from. The reclaimed space shown is the compressed size of
the removed images (docker shows unpacked sizes); their blobs stay on disk until the next hoist
prune.`

const imagePruneExample = `  hoist image prune -f
  hoist image prune -a -f`
