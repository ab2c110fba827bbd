#!/usr/bin/env bash
# Interop check against the reference environment (shared/refenv, needs dockerd and the 127.0.0.1:5000
# registry): for every refenv sample, build with hoist, validate the image with go-containerregistry's
# validate.Image, `hoist save` it, `docker load` it, `docker run` it, and compare the output with the
# same sample built by Docker's BuildKit. Prints one line per sample; exits non-zero on any difference.
# Usage: hack/interop.sh [sample...]   (default: hello bigcontext multistage pyapp)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
work=${INTEROP_DIR:-/var/tmp/hoist-interop}
samples=("$@"); ((${#samples[@]})) || samples=(hello bigcontext multistage pyapp)
docker info >/dev/null 2>&1 || { echo "interop: dockerd is not running (bash shared/refenv/setup.sh)"; exit 2; }
make -C "$top" -s build
H="$top/bin/hoist"; R="$work/root"
rm -rf "$work/samples"; mkdir -p "$work"; cp -r "$top/../shared/refenv/samples" "$work/samples"
[[ -d $work/samples/bigcontext/data ]] || (cd "$work/samples/bigcontext" && python3 generate.py >/dev/null)
for i in busybox:latest debian:bookworm-slim; do
  "$H" --root "$R" pull -q "127.0.0.1:5000/library/$i" >/dev/null
  "$H" --root "$R" tag "127.0.0.1:5000/library/$i" "$i"
done
# multistage prints the current date: drop date-like lines before comparing.
nodate() { grep -Ev '^[A-Z][a-z]{2} [A-Z][a-z]{2} +[0-9]+ [0-9:]+ [A-Z]+ [0-9]{4}$' || true; }
rc=0
for s in "${samples[@]}"; do
  "$H" --root "$R" build -q -t "hoist-interop/$s" "$work/samples/$s" >/dev/null
  (cd "$top" && go run ./hack/validate --root "$R" "hoist-interop/$s") >/dev/null || { echo "$s: validate.Image FAILED"; rc=1; continue; }
  "$H" --root "$R" save -o "$work/$s.tar" "hoist-interop/$s"
  docker load -q -i "$work/$s.tar" >/dev/null
  DOCKER_BUILDKIT=1 /usr/bin/docker build -q --network host -t "docker-interop/$s" "$work/samples/$s" >/dev/null
  a=$(docker run --rm --network none "hoist-interop/$s" 2>&1 | nodate)
  b=$(docker run --rm --network none "docker-interop/$s" 2>&1 | nodate)
  if [[ $a == "$b" ]]; then echo "$s: same output ($(wc -l <<<"$a") lines), validate.Image ok"
  else echo "$s: DIFFERENT"; diff <(echo "$b") <(echo "$a") || true; rc=1; fi
  docker rmi -f "hoist-interop/$s" "docker-interop/$s" >/dev/null
done
exit $rc
