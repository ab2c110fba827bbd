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

const generateKeyPairLong = `Write a key pair for hoist sign and hoist verify in cosign's files: PREFIX.key (default cosign.key,
mode 0600), an ECDSA P-256 private key encrypted with a password exactly as cosign generate-key-pair
encrypts it ("ENCRYPTED SIGSTORE PRIVATE KEY": scrypt and nacl/secretbox), and PREFIX.pub (a PKIX
"PUBLIC KEY" PEM). cosign reads these files and hoist reads cosign's. The password comes from
$COSIGN_PASSWORD when it is set (an empty value means no password), else from a prompt on a terminal
(asked twice), else from all of stdin (as cosign: a trailing newline is part of the password).
Existing key files are not overwritten without --force (cosign asks instead); each file is
replaced atomically.`

const generateKeyPairExample = `  hoist generate-key-pair
  COSIGN_PASSWORD=secret hoist generate-key-pair --output-key-prefix ci`

const signLong = `Sign an image in a registry with a key from generate-key-pair (hoist's or cosign's), in cosign's
format, so cosign verify, policy-controller or Kyverno accept it. A tag is resolved to the manifest
(or multi-platform index) digest it points at now, and that digest is signed. The signature is the
simple-signing payload {"critical":{"identity":{"docker-reference":REPOSITORY},"image":
{"docker-manifest-digest":DIGEST},"type":"cosign container image signature"},"optional":{-a
annotations}} signed with ECDSA-SHA256, pushed as cosign pushes it: a layer of the manifest tagged
sha256-<hex>.sig in the image's repository, added to the signatures already there (the same key
signing the same payload again adds nothing). Nothing is uploaded to a transparency log: hoist signs
offline, as cosign sign --tlog-upload=false. The key's password comes from $COSIGN_PASSWORD, a
terminal prompt or stdin, as for generate-key-pair. Registry access (credentials, TLS, plain HTTP
for loopback registries) is push's.`

const signExample = `  COSIGN_PASSWORD=secret hoist sign --key cosign.key 127.0.0.1:5000/team/app:1
  hoist sign --key cosign.key -a commit=3f2a1c 127.0.0.1:5000/team/app@sha256:9b2c...`

const verifyLong = `Verify an image's cosign signatures in a registry with a public key (hoist's or cosign's
cosign.pub). The image name is resolved to the manifest or index digest the registry serves now;
the signature manifest at the tag sha256-<hex>.sig is read, and every signature in it is checked:
its payload blob against the digest and size in the manifest, the signature against the payload
with the key, and the payload's claims: it signs exactly this digest, is a cosign image signature,
and carries every -a annotation. An image with a passing signature prints the verified payloads
as a JSON array on stdout and the checks performed on stderr, as cosign verify does; otherwise the
command fails (exit 1) saying why: no signatures, or each signature's reason (another key, another
digest, a changed payload). An image changed after signing has a new digest, which nothing signed.
No transparency log is consulted (cosign verify --insecure-ignore-tlog), and the payload's
docker-reference is not compared with the name verified, as in cosign.`

const verifyExample = `  hoist verify --key cosign.pub 127.0.0.1:5000/team/app:1
  hoist verify --key cosign.pub -a commit=3f2a1c 127.0.0.1:5000/team/app:1`
