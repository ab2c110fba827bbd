#!/usr/bin/env bash
# bench/registry.sh - time hoist push/pull against `skopeo copy` and `docker push`/`docker pull` on
# the refenv registry (127.0.0.1:5000), with the bigcontext sample image (~150 MiB COPY layer).
#
#   sudo bench/registry.sh          # BENCH_RUNS=5 by default; prints a markdown table and writes it to
#                                   # bench/results/registry-<date>.md; a failed command stops it (exit 1)
#                                   # and no result file is written (bench/honesty_test.go checks it)
#
# Scenarios (each tool in turn per run, so machine load hits all alike; medians of BENCH_RUNS):
#   cold push   : the image to a new repository of a fresh, empty docker-registry (one per run)
#                 hoist: from its store; skopeo: from an OCI layout dir (oci:); docker: from dockerd
#   no-op push  : the same push again to the same repository
#   cold pull   : into an empty place: hoist a fresh root; skopeo an empty OCI layout dir (oci:);
#                 docker after `docker rmi` of every tag of the image (docker also unpacks the layers
#                 into its graph driver: shown for reference, not a ratio goal)
# Env: BENCH_RUNS=5, HOIST=bin/hoist, BENCH_DIR=/var/tmp/hoist-regbench, REFENV=/work/shared/refenv,
#      DOCKER=/usr/bin/docker, BENCH_REGISTRY=127.0.0.1:5000 (holds library/busybox),
#      BENCH_RESULTS=bench/results (where the result file goes)
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
RUNS=${BENCH_RUNS:-5}
REFENV=${REFENV:-/work/shared/refenv}
BDIR=${BENCH_DIR:-/var/tmp/hoist-regbench}
REG=${BENCH_REGISTRY:-127.0.0.1:5000}
DOCKER=${DOCKER:-/usr/bin/docker}
RESULTS=${BENCH_RESULTS:-$REPO/bench/results}
RUN_ID=$(date +%Y%m%d%H%M%S)-$$
TREE=$(git -C "$REPO" describe --always --dirty) # at the start: the tree may change during the run
die() { echo "bench/registry.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root"
command -v skopeo >/dev/null || die "no skopeo"
command -v docker-registry >/dev/null || die "no docker-registry (apt-get install docker-registry)"
$DOCKER info >/dev/null 2>&1 || die "no dockerd (bash $REFENV/setup.sh)"
curl -sf http://$REG/v2/library/busybox/tags/list >/dev/null || die "no registry with library/busybox at $REG (bash $REFENV/setup.sh)"
HOIST_SRC=${HOIST:-$REPO/bin/hoist}
[[ -x $HOIST_SRC ]] || die "no hoist binary at $HOIST_SRC (make build)"

rm -rf "$BDIR"; mkdir -p "$BDIR"
trap 'rm -rf "$BDIR"' EXIT
cp "$HOIST_SRC" "$BDIR/hoist"
H="$BDIR/hoist --root $BDIR/root"

echo "preparing: bigcontext image (hoist build), OCI layout for skopeo, docker load" >&2
$H pull -q $REG/library/busybox >/dev/null
$H tag $REG/library/busybox busybox
cp -r "$REFENV/samples/bigcontext" "$BDIR/ctx"
(cd "$BDIR/ctx" && { [[ -d data ]] || python3 ./generate.py >/dev/null; })
$H build -q -t bench/big:1 "$BDIR/ctx" >/dev/null
$H save --format oci-archive -o "$BDIR/big.oci.tar" bench/big:1
mkdir -p "$BDIR/oci" && tar -xf "$BDIR/big.oci.tar" -C "$BDIR/oci"
$H save -o "$BDIR/big.docker.tar" bench/big:1
SIZE=$($H images bench/big | awk 'NR==2 {print $NF}')
sync

declare -A T # T[scenario/tool] = space-separated seconds
timed() { # timed KEY CMD...: run, add the wall time to T[KEY]
  local key=$1; shift
  local t0=$EPOCHREALTIME
  "$@" >"$BDIR/last.log" 2>&1 || { cat "$BDIR/last.log" >&2; die "failed: $*"; }
  local t1=$EPOCHREALTIME
  T[$key]+="$(echo "$t1 - $t0" | bc -l) "
}
REGPID=
stop_registry() { [[ -z $REGPID ]] || { kill "$REGPID" 2>/dev/null; wait "$REGPID" 2>/dev/null || true; REGPID=; }; }
trap 'stop_registry; rm -rf "$BDIR"' EXIT
# Every run gets a fresh docker-registry on its own port, so "cold" is cold for every tool: skopeo's
# blob-info cache, dockerd's distribution metadata and hoist's registry/blobs.json all remember
# blobs by registry host:port, and would otherwise mount blobs pushed by earlier runs.
start_registry() { # start_registry PORT
  mkdir -p "$BDIR/reg-$1"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$BDIR/reg-$1" "$1" > "$BDIR/reg-$1.yml"
  docker-registry serve "$BDIR/reg-$1.yml" >"$BDIR/reg-$1.log" 2>&1 &
  REGPID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/v2/" >/dev/null && return; sleep 0.1; done
  die "registry on port $1 did not start"
}
for i in $(seq 1 "$RUNS"); do
  echo "run $i/$RUNS" >&2
  n=$RUN_ID-$i
  stop_registry
  start_registry $((5100 + i))
  REG=127.0.0.1:$((5100 + i))
  timed push-cold/hoist $H push -q bench/big:1 $REG/bench-$n/hoist:1
  timed push-cold/skopeo skopeo copy -q --dest-tls-verify=false oci:"$BDIR/oci" docker://$REG/bench-$n/skopeo:1
  $DOCKER load -q -i "$BDIR/big.docker.tar" >/dev/null # untimed; removed again before the docker pull
  $DOCKER tag bench/big:1 $REG/bench-$n/docker:1
  timed push-cold/docker $DOCKER push -q $REG/bench-$n/docker:1
  timed push-noop/hoist $H push -q bench/big:1 $REG/bench-$n/hoist:1
  timed push-noop/skopeo skopeo copy -q --dest-tls-verify=false oci:"$BDIR/oci" docker://$REG/bench-$n/skopeo:1
  timed push-noop/docker $DOCKER push -q $REG/bench-$n/docker:1
  rm -rf "$BDIR/pull-root" "$BDIR/pull-oci"; sync
  timed pull-cold/hoist "$BDIR/hoist" --root "$BDIR/pull-root" pull -q $REG/bench-$n/hoist:1
  timed pull-cold/skopeo skopeo copy -q --src-tls-verify=false docker://$REG/bench-$n/hoist:1 oci:"$BDIR/pull-oci"
  $DOCKER rmi -f $REG/bench-$n/docker:1 bench/big:1 >/dev/null # no image keeps the layers
  timed pull-cold/docker $DOCKER pull -q $REG/bench-$n/docker:1
  $DOCKER rmi -f $REG/bench-$n/docker:1 >/dev/null
  stop_registry
  rm -rf "$BDIR/reg-$((5100 + i))"
done
$DOCKER rmi -f bench/big:1 >/dev/null 2>&1 || true

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1{lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }
RESULT="$RESULTS/registry-$(date -u +%Y-%m-%d-%H%M%S).md"
mkdir -p "$RESULTS"
trap 'stop_registry; rm -rf "$BDIR" "$RESULT.partial"' EXIT
exec 3>&1 > >(tee "$RESULT.partial")
TEE=$!
echo "# bench/registry.sh, hoist $TREE (tree at the start; HOIST=${HOIST:-bin/hoist}), $(nproc) CPUs"
echo
echo "bigcontext image ($SIZE compressed), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
echo
echo "| scenario | hoist s | skopeo s | docker s | hoist/skopeo | hoist/docker |"
echo "| --- | --- | --- | --- | --- | --- |"
for s in push-cold push-noop pull-cold; do
  h=$(echo "${T[$s/hoist]}" | median); k=$(echo "${T[$s/skopeo]}" | median); d=$(echo "${T[$s/docker]}" | median)
  printf "| %s | %.2f (%s) | %.2f (%s) | %.2f (%s) | %.2f | %.2f |\n" "$s" "$h" "$(echo "${T[$s/hoist]}" | range)" \
    "$k" "$(echo "${T[$s/skopeo]}" | range)" "$d" "$(echo "${T[$s/docker]}" | range)" \
    "$(echo "$h / $k" | bc -l)" "$(echo "$h / $d" | bc -l)"
done

# Only a bench that ran to the end leaves a result file.
exec >&3 3>&-
wait "$TEE"
mv "$RESULT.partial" "$RESULT"
