package commands

// Long and Example texts of the registry commands (pull, push, login, logout, search, manifest).
// See help_image.go for why they are constants.

const pullLong = `Pull an image from a registry into hoist's store. A multi-platform index gives the image for this
host's platform (--platform chooses another); -a pulls every tag of the repository. Every blob is
verified against its digest before the image is recorded, and blobs the store already has are not
fetched again. Names without a registry mean Docker Hub (docker.io/library/...), tried through the
--registry-mirror mirrors first. A registry on 127.0.0.1 or localhost may be plain HTTP;
--insecure-registry or --tls-verify=false allows others. Credentials come from docker's
config.json (or --authfile, or $REGISTRY_AUTH_FILE), as written by hoist login or docker login.`

const pullExample = `  hoist pull 127.0.0.1:5000/library/busybox:latest
  hoist pull -q 127.0.0.1:5000/library/debian:bookworm-slim
  hoist pull -a 127.0.0.1:5000/team/app`

const pushLong = `Push an image from hoist's store to a registry: IMAGE names the stored image, DESTINATION (when
given) where it goes, otherwise IMAGE's own name says where. Layers are pushed as stored (no
recompression, unless --compression); blobs the registry has are skipped, and blobs hoist pulled
from or pushed to another repository of the same registry are mounted from there instead of
uploaded. Layers remote-backed by a --cache-from import are mounted or fetched as needed. -a pushes
every tag of the repository. Prints progress, then docker's "TAG: digest: sha256:... size: N" line.`

const pushExample = `  hoist push 127.0.0.1:5000/team/app:1
  hoist push app:1 127.0.0.1:5000/team/app:1
  hoist push --compression zstd --digestfile app.digest app:1 127.0.0.1:5000/team/app:1-zstd
  hoist push -a 127.0.0.1:5000/team/app`

const loginLong = `Log in to a registry (Docker Hub without SERVER): the credentials are checked against the
registry, then stored where docker keeps them (the "auths" of ~/.docker/config.json, or --authfile,
or $REGISTRY_AUTH_FILE), so hoist, docker, podman and skopeo share them. Without --username and
--password on a terminal, hoist prompts for what is missing; --password-stdin reads the password
from stdin (it keeps it out of the shell history and the process list).`

const loginExample = `  hoist login 127.0.0.1:5000
  echo "$TOKEN" | hoist login -u ci --password-stdin 127.0.0.1:5000
  hoist login --authfile ./auth.json -u ci --password-stdin 127.0.0.1:5000 < token.txt`

const logoutLong = `Remove a registry's credentials (Docker Hub's without SERVER) from docker's config.json, or from
--authfile.`

const logoutExample = `  hoist logout 127.0.0.1:5000
  hoist logout --authfile ./auth.json 127.0.0.1:5000`

const searchLong = `Search a registry's repositories for TERM. docker search asks Docker Hub's search API; hoist lists
the registry's catalog (GET /v2/_catalog, which distribution registries, Harbor and others serve)
and prints the repositories whose name contains TERM. --list-tags (podman's flag) lists each
repository's tags.`

const searchExample = `  hoist search 127.0.0.1:5000/busybox
  hoist search --list-tags 127.0.0.1:5000/library/`

const manifestLong = `Inspect manifests in a registry (docker manifest; hoist has only inspect: manifest lists are not
created or pushed by this command).`

const manifestExample = `  hoist manifest inspect 127.0.0.1:5000/library/busybox:latest`

const manifestInspectLong = `Print an image's manifest or index as the registry serves it (the raw JSON, indented), without
pulling it.`

const manifestInspectExample = `  hoist manifest inspect 127.0.0.1:5000/library/busybox:latest
  hoist manifest inspect --authfile ./auth.json 127.0.0.1:5000/team/app:1`
