#!/usr/bin/env bash
# bench/ab.sh - hoist against hoist: two git revisions side by side on the build scenarios (cold
# build of hello and of bigcontext in an empty root but for the busybox base; no-op rebuild of hello,
# no-op and one-file-touched rebuild of bigcontext; with AB_SCENARIOS naming it, touch-py: the pyapp
# sample rebuilt after a source-only edit), to show what a change
# costs on the machine of the day (absolute figures drift between machines and days; an A/B run in
# one go does not).
#
#   sudo bench/ab.sh OLD_REV [NEW_REV]     # NEW_REV defaults to HEAD; BENCH_RUNS (default 7) rounds;
#                                          # AB_SCENARIOS picks scenarios (default: all but touch-py)
#
# touch-py needs debian:bookworm-slim at 127.0.0.1:5000/library/debian (refenv's registry) and the
# Debian mirror for the sample's apt-get RUN, once per revision and untimed; its builds use
# --network host (the default network may not reach the mirror), the timed ones too, so that the
# cached steps' keys match.
#
# Each round runs every scenario with OLD then NEW. Each revision has its own root with the same
# busybox base (made from /bin/busybox) and its own copy of the bigcontext sample
# (shared/refenv/samples/bigcontext, generated once). Results: stdout and
# bench/results/ab-<date>.md. A build that fails stops the bench with exit status 2.
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
OLD=${1:?usage: bench/ab.sh OLD_REV [NEW_REV]}
NEW=${2:-HEAD}
RUNS=${BENCH_RUNS:-7}
SAMPLES=${SAMPLES:-$REPO/../shared/refenv/samples}
[[ $(id -u) == 0 ]] || { echo "bench/ab.sh: run as root" >&2; exit 1; }
[[ -x /bin/busybox ]] || { echo "bench/ab.sh: needs /bin/busybox (busybox-static)" >&2; exit 1; }
[[ -f $SAMPLES/bigcontext/Dockerfile ]] || { echo "bench/ab.sh: no bigcontext sample in $SAMPLES" >&2; exit 1; }
WORK=$(mktemp -d /var/tmp/hoist-ab.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

revs=("$(git -C "$REPO" rev-parse --short "$OLD")" "$(git -C "$REPO" rev-parse --short "$NEW")")
(cd "$REPO" && go run ./hack/mkbusybox /bin/busybox) >"$WORK/busybox.tar"
for r in "${revs[@]}"; do
  git -C "$REPO" worktree add -q --detach "$WORK/src-$r" "$r"
  (cd "$WORK/src-$r" && CGO_ENABLED=0 go build -trimpath -o "$WORK/hoist-$r" ./cmd/hoist)
  git -C "$REPO" worktree remove --force "$WORK/src-$r"
  "$WORK/hoist-$r" --root "$WORK/root-$r" import --change 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
  mkdir -p "$WORK/ctx-$r"
  cp -r "$SAMPLES/bigcontext/." "$WORK/ctx-$r/"
  (cd "$WORK/ctx-$r" && python3 generate.py >/dev/null)
  cp -r "$REPO/examples/hello" "$WORK/hello-$r"
  "$WORK/hoist-$r" --root "$WORK/root-$r" build -q -t hello "$WORK/hello-$r" >/dev/null
  "$WORK/hoist-$r" --root "$WORK/root-$r" build -q -t big "$WORK/ctx-$r" >/dev/null
  if [[ " ${AB_SCENARIOS:-} " == *" touch-py "* ]]; then
    "$WORK/hoist-$r" --root "$WORK/root-$r" pull -q 127.0.0.1:5000/library/debian:bookworm-slim >/dev/null
    "$WORK/hoist-$r" --root "$WORK/root-$r" tag 127.0.0.1:5000/library/debian:bookworm-slim debian:bookworm-slim
    cp -r "$SAMPLES/pyapp" "$WORK/py-$r"
    "$WORK/hoist-$r" --root "$WORK/root-$r" build -q --network host -t py "$WORK/py-$r" >/dev/null
  fi
done

now() { echo "${EPOCHREALTIME/./}"; }
# one REV SCENARIO: time one build in ms
one() {
  local r=$1 sc=$2 s e
  case $sc in
    cold-hello) set -- "$WORK/hoist-$r" --root "$WORK/cold-$r" build -q -t hello "$WORK/hello-$r" ;;
    cold-big) set -- "$WORK/hoist-$r" --root "$WORK/cold-$r" build -q -t big "$WORK/ctx-$r" ;;
    noop-hello) set -- "$WORK/hoist-$r" --root "$WORK/root-$r" build -q -t hello "$WORK/hello-$r" ;;
    noop-big) set -- "$WORK/hoist-$r" --root "$WORK/root-$r" build -q -t big "$WORK/ctx-$r" ;;
    touch-big)
      bash "$WORK/ctx-$r/touch-one.sh" >/dev/null
      sync
      set -- "$WORK/hoist-$r" --root "$WORK/root-$r" build -q -t big "$WORK/ctx-$r" ;;
    touch-py)
      sh "$WORK/py-$r/touch-src.sh" >/dev/null
      sync
      set -- "$WORK/hoist-$r" --root "$WORK/root-$r" build -q --network host -t py "$WORK/py-$r" ;;
    *)
      echo "bench/ab.sh: unknown scenario $sc" >&2
      exit 1 ;;
  esac
  if [[ $sc == cold-* ]]; then # an empty root with only the base: nothing cached
    rm -rf "$WORK/cold-$r"
    "$WORK/hoist-$r" --root "$WORK/cold-$r" import --change 'CMD ["sh"]' "$WORK/busybox.tar" busybox:latest >/dev/null
    sync
  fi
  s=$(now)
  if ! "$@" >"$WORK/out" 2>&1; then
    echo "bench/ab.sh: FAILED: $*" >&2
    tail -5 "$WORK/out" >&2
    exit 2
  fi
  e=$(now)
  echo $(((e - s) / 1000))
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A T
read -ra scenarios <<<"${AB_SCENARIOS:-cold-hello cold-big noop-hello noop-big touch-big}"
for ((i = 0; i < RUNS; i++)); do
  for sc in "${scenarios[@]}"; do
    for r in "${revs[@]}"; do T[$sc,$r]+="$(one "$r" "$sc") "; done
  done
done

RESULT="$REPO/bench/results/ab-$(date -u +%Y-%m-%d-%H%M%S).md"
{
  echo "# bench/ab.sh $(date -u +%FT%TZ): ${revs[0]} (old) vs ${revs[1]} (new), $(nproc) CPUs, kernel $(uname -r)"
  echo
  echo "Median of $RUNS interleaved runs, ms; all runs in brackets. Load average (1, 5, 15 min) at the"
  echo "start of the timed runs: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo
  echo "| scenario | old ${revs[0]} | new ${revs[1]} | new / old |"
  echo "| --- | --- | --- | --- |"
  for sc in "${scenarios[@]}"; do
    o=$(median <<<"${T[$sc,${revs[0]}]}") n=$(median <<<"${T[$sc,${revs[1]}]}")
    echo "| $sc | $o (${T[$sc,${revs[0]}]% }) | $n (${T[$sc,${revs[1]}]% }) | $(awk -v a="$n" -v b="$o" 'BEGIN { printf "%.2f", a / b }') |"
  done
} | tee "$RESULT"
echo "bench/ab.sh: results written to ${RESULT#"$REPO"/}" >&2
