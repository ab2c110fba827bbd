#!/bin/sh
# Records cosign's expectations for push/sign's tests (run once, by hand, with cosign 2.x):
#   COSIGN=/path/to/cosign REGISTRY=127.0.0.1:5000 sh record.sh
# It needs docker (the signed image is docker's), skopeo and a registry on loopback. It writes
# cosign.key/cosign.pub (cosign generate-key-pair, password hoist-test-password), the repository the
# image was signed in, and layout/: an OCI layout holding the image ("image") and cosign's signature
# manifest ("sig"), copied with their digests preserved.
set -eu
cd "$(dirname "$0")"
: "${COSIGN:?set COSIGN to a cosign binary}" "${REGISTRY:=127.0.0.1:5000}"
repo="$REGISTRY/hoist-cosign-record/hello"
ctx=$(mktemp -d)
printf 'signed by cosign, verified by hoist\n' > "$ctx/hello.txt"
printf 'FROM scratch\nCOPY hello.txt /\n' > "$ctx/Dockerfile"
docker build -q -t "$repo:1" "$ctx"
digest=$(docker push "$repo:1" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')
rm -rf "$ctx" layout cosign.key cosign.pub
COSIGN_PASSWORD=hoist-test-password "$COSIGN" generate-key-pair
COSIGN_PASSWORD=hoist-test-password "$COSIGN" sign --key cosign.key --tlog-upload=false \
	--allow-insecure-registry -y "$repo@$digest"
printf '%s\n' "$repo" > repository
skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$repo@$digest" oci:layout:image
skopeo copy -q --preserve-digests --src-tls-verify=false \
	"docker://$repo:$(echo "$digest" | tr : -).sig" oci:layout:sig
"$COSIGN" version 2>/dev/null | sed -n 's/^GitVersion: *//p' > cosign-version
