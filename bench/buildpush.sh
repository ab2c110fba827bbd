#!/usr/bin/env bash
# bench/buildpush.sh - time `hoist build --push` (build and push in one step) against `hoist build`
# followed by `hoist push`, with the bigcontext sample (~150 MiB COPY layer), and count the layer
# uploads of --push (issue 14: at most 1.0x, each layer uploaded once).
#
#   sudo bench/buildpush.sh         # BENCH_RUNS=3 by default; prints a markdown table and writes it to
#                                   # bench/results/buildpush-<date>.md; a failed command stops it
#                                   # (exit 1) and no result file is written
#
# Each run, each way in turn: a fresh hoist root holding only the busybox base (no cache, no
# snapshots) and a fresh, empty docker-registry, so both ways build and upload everything.
#   build+push : hoist build --no-cache -t R/bench/sep:1 ctx && hoist push R/bench/sep:1
#   --push     : hoist build --no-cache -t R/bench/one:1 --push ctx
# uploads: blob uploads the registry saw during --push (finished PUTs of /blobs/uploads/, from the
# registry's access log), against the image's blob count (layers + config).
# Env: BENCH_RUNS=3, HOIST=bin/hoist, BENCH_DIR=/var/tmp/hoist-pushbench, REFENV=/work/shared/refenv,
#      BENCH_REGISTRY=127.0.0.1:5000 (holds library/busybox), BENCH_RESULTS=bench/results
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
RUNS=${BENCH_RUNS:-3}
REFENV=${REFENV:-/work/shared/refenv}
BDIR=${BENCH_DIR:-/var/tmp/hoist-pushbench}
REG=${BENCH_REGISTRY:-127.0.0.1:5000}
RESULTS=${BENCH_RESULTS:-$REPO/bench/results}
TREE=$(git -C "$REPO" describe --always --dirty)
die() { echo "bench/buildpush.sh: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root"
command -v docker-registry >/dev/null || die "no docker-registry (apt-get install docker-registry)"
curl -sf http://$REG/v2/library/busybox/tags/list >/dev/null || die "no registry with library/busybox at $REG (bash $REFENV/setup.sh)"
HOIST_SRC=${HOIST:-$REPO/bin/hoist}
[[ -x $HOIST_SRC ]] || die "no hoist binary at $HOIST_SRC (make build)"

rm -rf "$BDIR"; mkdir -p "$BDIR"
REGPID=
stop_registry() { [[ -z $REGPID ]] || { kill "$REGPID" 2>/dev/null; wait "$REGPID" 2>/dev/null || true; REGPID=; }; }
trap 'stop_registry; rm -rf "$BDIR"' EXIT
cp "$HOIST_SRC" "$BDIR/hoist"

echo "preparing: base root with busybox, the bigcontext context" >&2
"$BDIR/hoist" --root "$BDIR/base-root" pull -q $REG/library/busybox >/dev/null
"$BDIR/hoist" --root "$BDIR/base-root" tag $REG/library/busybox busybox
cp -r "$REFENV/samples/bigcontext" "$BDIR/ctx"
(cd "$BDIR/ctx" && { [[ -d data ]] || python3 ./generate.py >/dev/null; })
sync

# start_registry PORT: a fresh, empty docker-registry with an access log (info level).
start_registry() {
  mkdir -p "$BDIR/reg-$1"
  printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' "$BDIR/reg-$1" "$1" > "$BDIR/reg-$1.yml"
  docker-registry serve "$BDIR/reg-$1.yml" >"$BDIR/reg-$1.log" 2>&1 &
  REGPID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/v2/" >/dev/null && return; sleep 0.1; done
  die "registry on port $1 did not start"
}
fresh_root() { rm -rf "$BDIR/root"; cp -a "$BDIR/base-root" "$BDIR/root"; sync; }

declare -A T
timed() { # timed KEY CMD...: run, add the wall time to T[KEY]
  local key=$1; shift
  local t0=$EPOCHREALTIME
  "$@" >"$BDIR/last.log" 2>&1 || { cat "$BDIR/last.log" >&2; die "failed: $*"; }
  local t1=$EPOCHREALTIME
  T[$key]+="$(echo "$t1 - $t0" | bc -l) "
}
H="$BDIR/hoist --root $BDIR/root"
UPLOADS=
for i in $(seq 1 "$RUNS"); do
  echo "run $i/$RUNS" >&2
  port=$((5200 + i))
  R=127.0.0.1:$port
  # The two ways take turns going first, so that neither always runs after the other's writes.
  if (( i % 2 )); then ways="sep one"; else ways="one sep"; fi
  for way in $ways; do
    start_registry $port
    fresh_root
    if [[ $way == sep ]]; then
      timed sep $H build -q --no-cache -t $R/bench/sep:1 "$BDIR/ctx"
      timed sep-push $H push -q $R/bench/sep:1 $R/bench/sep:1
    else
      timed one $H build -q --no-cache -t $R/bench/one:1 --push "$BDIR/ctx"
      puts=$(grep -c '"PUT /v2/bench/one/blobs/uploads/' "$BDIR/reg-$port.log" || true)
      blobs=$($H inspect --format '{{len .RootFS.Layers}}' $R/bench/one:1)
      UPLOADS+="$puts/$((blobs + 1)) "
      [[ $puts == $((blobs + 1)) ]] || die "--push uploaded $puts blobs for an image of $((blobs + 1)) (layers + config)"
    fi
    stop_registry; rm -rf "$BDIR/reg-$port"; sync
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
# build+push per run = build time + push time of the same run
SEP=""; b=(${T[sep]}); p=(${T[sep-push]})
for k in "${!b[@]}"; do SEP+="$(echo "${b[$k]} + ${p[$k]}" | bc -l) "; done
RESULT="$RESULTS/buildpush-$(date -u +%Y-%m-%d-%H%M%S).md"
mkdir -p "$RESULTS"
s=$(echo "$SEP" | median); o=$(echo "${T[one]}" | median)
{
  echo "# bench/buildpush.sh, hoist $TREE (tree at the start; HOIST=${HOIST:-bin/hoist}), $(nproc) CPUs"
  echo
  echo "bigcontext, cold (fresh root with busybox only, --no-cache, empty registry), $RUNS runs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
  echo
  echo "| way | median s | runs s |"
  echo "| --- | --- | --- |"
  printf "| build + push | %.2f | %s|\n" "$s" "$SEP"
  printf "| build (of build + push) | %.2f | %s|\n" "$(echo "${T[sep]}" | median)" "${T[sep]}"
  printf "| build --push | %.2f | %s|\n" "$o" "${T[one]}"
  echo
  printf "ratio --push / (build + push): %.2f; blob uploads by --push / blobs of the image, per run: %s\n" "$(echo "$o / $s" | bc -l)" "$UPLOADS"
} | tee "$RESULT.partial"
mv "$RESULT.partial" "$RESULT"
