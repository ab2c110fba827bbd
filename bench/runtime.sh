#!/usr/bin/env bash
# bench/runtime.sh - hoist's container runtime against docker run, podman run and runc run.
#
#   sudo bench/runtime.sh          # needs the reference environment (shared/refenv/setup.sh)
#
# Every scenario runs BENCH_RUNS times (default 5) per tool; the table shows the median wall time
# in ms and hoist's ratio to each other tool. Networking is --network none everywhere: runc's bundle
# has no network, and refenv's dockerd runs with --bridge=none. The tools take turns within each
# round (hoist, docker, podman, runc, hoist, ...), so load from other work hits them alike.
# Results go to stdout and to bench/results/runtime-<date>.md, which appears only when the whole bench
# ran: a timed command that fails stops the bench with exit status 2 and names it, and no result file
# is written (a failed command is never a time; bench/honesty_test.go feeds it one).
# Env: BENCH_RUNS=5, HOIST (a hoist binary to measure; default: built from this tree),
# DOCKER=/usr/bin/docker, BUNDLE, BENCH_RESULTS=bench/results (where the result file goes).
set -euo pipefail
export LC_ALL=C
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
RUNS=${BENCH_RUNS:-5}
BUNDLE=${BUNDLE:-/var/lib/refenv/bundles/busybox}
DOCKER=${DOCKER:-/usr/bin/docker}
RESULTS=${BENCH_RESULTS:-$REPO/bench/results}
HOIST_SRC=${HOIST:-}
WORK=$(mktemp -d /var/tmp/hoist-rtbench.XXXXXX)
HOIST="$WORK/hoist --root $WORK/root"
RESULT="$RESULTS/runtime-$(date -u +%Y-%m-%d-%H%M%S).md"
trap 'set +e; for c in $($HOIST ps -aq); do $HOIST rm -f $c >/dev/null; done; $DOCKER rm -f hoistbench-d hoistbench-x >/dev/null 2>&1; rm -rf "$WORK" "$RESULT.partial"' EXIT

if [[ -n $HOIST_SRC ]]; then
  cp "$HOIST_SRC" "$WORK/hoist"
else
  (cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$WORK/hoist" ./cmd/hoist)
fi
$HOIST pull 127.0.0.1:5000/library/busybox:latest >/dev/null
$HOIST tag 127.0.0.1:5000/library/busybox:latest busybox:latest
$HOIST run --rm --network none busybox true # unpack the layers once

now() { echo "${EPOCHREALTIME/./}"; } # microseconds
mkdir -p "$RESULTS"
exec 3>&1 > >(tee "$RESULT.partial")
TEE=$!
echo "# bench/runtime.sh $(date -u +%FT%TZ), hoist $(git -C "$REPO" describe --always --dirty), $(nproc) CPUs"
echo

# time_ms CMD : wall time of one run of the shell command CMD in ms (output discarded). A failing
# command ends the bench (exit 2) with its output.
time_ms() {
  local s e
  s=$(now)
  if ! bash -c "$1" >"$WORK/out" 2>&1 </dev/null; then
    echo "bench/runtime.sh: FAILED: $1" >&2
    tail -5 "$WORK/out" >&2
    exit 2
  fi
  e=$(now)
  echo $(( (e - s) / 1000 ))
}
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# interleave CMD...: RUNS rounds, each running every CMD once in turn; sets T[i] to the space-separated
# times of CMD i.
declare -a T
interleave() {
  local i r n=$#
  local -a cmds=("$@")
  for ((i = 0; i < n; i++)); do T[i]=""; done
  for ((r = 0; r < RUNS; r++)); do
    for ((i = 0; i < n; i++)); do T[i]+="$(time_ms "${cmds[i]}") "; done
  done
}

echo "## run --rm busybox true (median of $RUNS, ms)"
interleave "$HOIST run --rm --network none busybox true" "$DOCKER run --rm --network none busybox true" \
  "podman run --rm --network none busybox true" "runc run -b $BUNDLE hoistbench-\$RANDOM"
h=$(median <<<"${T[0]}") d=$(median <<<"${T[1]}") p=$(median <<<"${T[2]}") r=$(median <<<"${T[3]}")
echo "| tool | ms | hoist / tool |"
echo "| --- | --- | --- |"
echo "| hoist run --rm | $h | 1.00 |"
echo "| runc run (prepared bundle) | $r | $(ratio "$h" "$r") |"
echo "| podman run --rm | $p | $(ratio "$h" "$p") |"
echo "| docker run --rm | $d | $(ratio "$h" "$d") |"

echo
echo "## run -d busybox sleep 60, then rm -f (median of $RUNS, ms)"
interleave "$HOIST run -d --name hoistbench-d --network none busybox sleep 60 && $HOIST rm -f hoistbench-d" \
  "$DOCKER run -d --name hoistbench-d --network none busybox sleep 60 && $DOCKER rm -f hoistbench-d"
hd=$(median <<<"${T[0]}") dd=$(median <<<"${T[1]}")
echo "| tool | ms | hoist / tool |"
echo "| --- | --- | --- |"
echo "| hoist run -d | $hd | 1.00 |"
echo "| docker run -d | $dd | $(ratio "$hd" "$dd") |"

echo
echo "## exec CONTAINER true (median of $RUNS, ms)"
$HOIST run -d --name hoistbench-x --network none busybox sleep 600 >/dev/null
$DOCKER run -d --name hoistbench-x --network none busybox sleep 600 >/dev/null
interleave "$HOIST exec hoistbench-x true" "$DOCKER exec hoistbench-x true"
he=$(median <<<"${T[0]}") de=$(median <<<"${T[1]}")
echo "| tool | ms | hoist / tool |"
echo "| --- | --- | --- |"
echo "| hoist exec | $he | 1.00 |"
echo "| docker exec | $de | $(ratio "$he" "$de") |"
$DOCKER rm -f hoistbench-x >/dev/null

echo
echo "## monitor memory per detached container (3 containers, after 2 s)"
for i in 1 2 3; do $HOIST run -d --network none busybox sleep 600 >/dev/null; done
sleep 2
echo "| monitor pid | VmRSS kB | RssAnon kB | Pss kB |"
echo "| --- | --- | --- | --- |"
for pid in $(pgrep -f "__hoist_monitor $WORK/root"); do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)
  anon=$(awk '/^RssAnon/ {print $2}' /proc/$pid/status)
  pss=$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)
  echo "| $pid | $rss | $anon | $pss |"
done

# Only a bench that ran to the end leaves a result file.
exec >&3 3>&-
wait "$TEE"
mv "$RESULT.partial" "$RESULT"
