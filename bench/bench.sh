#!/usr/bin/env bash
# bench/bench.sh - time hoist against `docker build` (BuildKit) and `buildah build --layers`
# on the refenv samples (/work/shared/refenv/samples), side by side. See bench/README.md.
#
#   sudo bench/bench.sh                      # or: make bench
#
# Env:
#   BENCH_RUNS=5          runs per scenario and tool (median, min and max are reported)
#   BENCH_ALL=0           1: also cold builds of multistage and pyapp (apt-get: Debian mirror)
#   BENCH_KEEP=0          1: keep the scratch dir (contexts, hoist roots, build logs)
#   BENCH_DIR=/var/tmp/hoist-bench   scratch dir (wiped at start if it is a previous bench dir)
#   BENCH_SCENARIOS="cold-hello cold-bigcontext compress rebuild registry-cache"   subset to run
#   BENCH_TIMEOUT=900     seconds before one build is killed and counted as failed
#   BENCH_PRUNE_DOCKER=0  1: prune the docker build-cache records created during the bench
#                         (records other users created in the same window go too)
#   HOIST=bin/hoist       hoist binary to measure (copied to the scratch dir first)
#   REFENV=/work/shared/refenv
#
# Progress goes to stderr; the final table to stdout and to bench/results/<date>.md.
# Exit status: 0 all builds succeeded, 1 a prerequisite is missing, 2 some build failed.
set -euo pipefail
export LC_ALL=C # decimal point in $EPOCHREALTIME and printf

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
REFENV=${REFENV:-/work/shared/refenv}
SAMPLES=$REFENV/samples
RUNS=${BENCH_RUNS:-5}
ALL=${BENCH_ALL:-0}
KEEP=${BENCH_KEEP:-0}
BDIR=${BENCH_DIR:-/var/tmp/hoist-bench}
SCENARIOS=${BENCH_SCENARIOS:-cold-hello cold-bigcontext compress rebuild registry-cache}
TIMEOUT=${BENCH_TIMEOUT:-900}
PRUNE_DOCKER=${BENCH_PRUNE_DOCKER:-0}
HOIST_SRC=${HOIST:-$REPO/bin/hoist}
REGISTRY=127.0.0.1:5000
DOCKER=/usr/bin/docker # the 20.10 CLI: /usr/local/bin/docker (28.x) has no buildx for BuildKit
TOOLS=(hoist docker buildah)
RUN_ID=$(date +%Y%m%d%H%M%S)-$$ # makes every tag and docker context path unique
HOIST_BIN=$BDIR/hoist
BASE_ROOT=$BDIR/base-root # hoist root holding only the base images (pulled, never built in)
DATA=$BDIR/data           # DATA/<scenario>/<tool>.{t,rss,fail}: one number / failure per line
LOGS=$BDIR/logs
DOCKER_TAGS=()  # tags still to remove at exit
BUILDAH_TAGS=()
FAILED=0
LAST_SECS=0 # set by timed()
LAST_RSS=0

die() { echo "bench: $*" >&2; exit 1; }
say() { echo "bench: $*" >&2; }

# --------------------------------------------------------------------------- checks
# preflight fails with one line naming the first missing prerequisite.
preflight() {
  [[ $(id -u) == 0 ]] || die "must run as root (builds need namespaces and overlayfs)"
  [[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer, got '$RUNS'"
  [[ -x $DOCKER ]] || die "$DOCKER (docker.io 20.10 CLI) is missing: run bash $REFENV/setup.sh"
  "$DOCKER" info >/dev/null 2>&1 || die "dockerd is not answering ($DOCKER info failed): run bash $REFENV/setup.sh"
  command -v buildah >/dev/null || die "buildah is missing: run bash $REFENV/setup.sh"
  command -v curl >/dev/null || die "curl is missing: apt-get install curl"
  local cat
  cat=$(curl -fsS --max-time 5 "http://$REGISTRY/v2/_catalog" 2>/dev/null) ||
    die "the refenv registry at $REGISTRY is not answering: run bash $REFENV/setup.sh"
  [[ $cat == *'"library/busybox"'* && $cat == *'"library/debian"'* ]] ||
    die "the refenv registry at $REGISTRY lacks library/busybox or library/debian: run bash $REFENV/setup.sh"
  local img
  for img in busybox:latest debian:bookworm-slim; do
    "$DOCKER" image inspect "$img" >/dev/null 2>&1 || die "dockerd has no $img: run bash $REFENV/setup.sh"
    buildah inspect --type image "docker.io/library/$img" >/dev/null 2>&1 ||
      die "containers-storage has no docker.io/library/$img: run bash $REFENV/setup.sh"
  done
  [[ -f $SAMPLES/hello/Dockerfile && -f $SAMPLES/bigcontext/generate.py ]] || die "no samples under $SAMPLES"
  [[ -x $HOIST_SRC ]] || die "no hoist binary at $HOIST_SRC: run make build"
  command -v python3 >/dev/null || die "python3 is missing (bigcontext/generate.py needs it)"
  command -v timeout >/dev/null || die "timeout (coreutils) is missing"
  if [[ ! -x /usr/bin/time ]]; then
    say "installing the Debian 'time' package (GNU time, for peak RSS)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null 2>&1 ||
      die "/usr/bin/time is missing and apt-get install time failed"
  fi
  if want compress; then command -v go >/dev/null || die "go is missing (the compress scenario runs go test)"; fi
}

want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# --------------------------------------------------------------------------- scratch
# unmount_under DIR: unmounts whatever is still mounted below DIR (deepest first), so an
# rm -rf never walks into an overlay a failed hoist build left behind. Prints what it did.
unmount_under() {
  local m
  findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r | while read -r m; do
    say "WARNING: $m was still mounted after a hoist build; unmounting it"
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
}

rm_tree() {
  [[ -e $1 ]] || return 0
  unmount_under "$1"
  rm -rf --one-file-system "$1"
}

# setup_scratch: fresh BDIR with a private copy of the hoist binary (others may rebuild
# bin/hoist meanwhile) and writable copies of the samples; bigcontext's data is generated.
setup_scratch() {
  if [[ -e $BDIR ]]; then
    [[ -f $BDIR/.hoist-bench ]] || die "$BDIR exists and is not a bench scratch dir (no .hoist-bench): set BENCH_DIR"
    rm_tree "$BDIR"
  fi
  mkdir -p "$BDIR/samples" "$BDIR/ctx" "$DATA" "$LOGS"
  touch "$BDIR/.hoist-bench"
  cp "$HOIST_SRC" "$HOIST_BIN"
  local s
  for s in hello bigcontext multistage pyapp; do cp -a "$SAMPLES/$s" "$BDIR/samples/"; done
  say "generating bigcontext data"
  (cd "$BDIR/samples/bigcontext" && python3 generate.py >/dev/null)
}

# setup_hoist_base: a hoist root holding just the two base images, pulled from the refenv
# registry and tagged like docker's/buildah's local copies. Every cold run starts from a copy.
setup_hoist_base() {
  local img
  for img in busybox:latest debian:bookworm-slim; do
    "$HOIST_BIN" --root "$BASE_ROOT" pull "$REGISTRY/library/$img" >"$LOGS/pull-${img%%:*}.log" 2>&1 ||
      die "hoist pull $REGISTRY/library/$img failed: $(tail -n1 "$LOGS/pull-${img%%:*}.log")"
    "$HOIST_BIN" --root "$BASE_ROOT" tag "$REGISTRY/library/$img" "$img" >/dev/null 2>&1 ||
      die "hoist tag $REGISTRY/library/$img $img failed"
  done
}

# --------------------------------------------------------------------------- running
# timed LOG CMD...: runs CMD under GNU time with a timeout, output to LOG; sets LAST_SECS
# (wall seconds) and LAST_RSS (KiB: the peak of CMD and the descendants it reaped, not a sum).
timed() {
  local log=$1 rc=0 t0 t1
  shift
  t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$log.rss" timeout --kill-after=10 "$TIMEOUT" "$@" >"$log" 2>&1 || rc=$?
  t1=$EPOCHREALTIME
  LAST_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
  LAST_RSS=$(tail -n1 "$log.rss" 2>/dev/null || true)
  [[ $LAST_RSS =~ ^[0-9]+$ ]] || LAST_RSS=0
  return "$rc"
}

# build TOOL MODE CTX TAG LOG: one timed build. MODE cold = --no-cache (plus, for hoist, a
# root that only holds the base images: the caller resets it); warm = cache allowed.
build() {
  local tool=$1 mode=$2 ctx=$3 tag=$4 log=$5 nc=()
  [[ $mode == cold ]] && nc=(--no-cache)
  sync # do not let writeback of the untimed preparation land in the timed build
  case $tool in
  hoist) timed "$log" "$HOIST_BIN" --root "$BDIR/root-$mode" build --network host "${nc[@]}" -t "$tag" "$ctx" ;;
  docker) timed "$log" env DOCKER_BUILDKIT=1 "$DOCKER" build --network host "${nc[@]}" -t "$tag" "$ctx" ;;
  buildah) timed "$log" buildah build --layers --network host --force-rm "${nc[@]}" -t "$tag" "$ctx" ;;
  esac
}

# record SCENARIO TOOL RC LOG: appends the run's seconds and RSS (MB), or a failure.
record() {
  local d=$DATA/$1 tool=$2 rc=$3 log=$4
  mkdir -p "$d"
  if [[ $rc == 0 ]]; then
    echo "$LAST_SECS" >>"$d/$tool.t"
    awk -v k="$LAST_RSS" 'BEGIN { printf "%.1f\n", k / 1024 }' >>"$d/$tool.rss"
    say "  $1 $tool: ${LAST_SECS}s, peak RSS $((LAST_RSS / 1024)) MB"
  else
    echo "$rc" >>"$d/$tool.fail"
    FAILED=1
    [[ -f $d/$tool.log ]] || { echo "exit status $rc, last lines of the log:"; tail -n 15 "$log"; } >"$d/$tool.log"
    say "  $1 $tool: FAILED (exit $rc) after ${LAST_SECS}s; log tail:"
    tail -n 5 "$log" | sed 's/^/    /' >&2
  fi
}

tag_for() { echo "hoist-bench/$1-$2:$RUN_ID-$3"; }

forget_image() { # TOOL TAG: removes a docker/buildah tag (and, with its last tag, the image)
  case $1 in
  docker) "$DOCKER" rmi "$2" >/dev/null 2>&1 || true ;;
  buildah) buildah rmi "$2" >/dev/null 2>&1 || true ;;
  esac
}

# --------------------------------------------------------------------------- scenarios
# cold SAMPLE: a build with nothing cached. Every run gets a fresh copy of the context at a
# new path (BuildKit keeps its context-transfer cache across --no-cache builds, keyed by the
# context path), docker and buildah use --no-cache, hoist uses --no-cache AND a fresh root
# that only holds the pulled base images (no cache/, no snapshots/: it unpacks its base, the
# others have theirs unpacked already). Base images are local for all three (not timed).
# Tools alternate run by run so that drift on a shared machine hits all three alike.
scenario_cold() {
  local sample=$1 key=cold-$1 i tool ctx tag log rc
  say "cold build of $sample ($RUNS runs per tool)"
  for ((i = 1; i <= RUNS; i++)); do
    for tool in "${TOOLS[@]}"; do
      ctx=$BDIR/ctx/$sample-$tool-$RUN_ID-$i
      cp -a "$BDIR/samples/$sample" "$ctx"
      if [[ $tool == hoist ]]; then rm_tree "$BDIR/root-cold" && cp -a "$BASE_ROOT" "$BDIR/root-cold"; fi
      tag=$(tag_for "$key" "$tool" "$i")
      log=$LOGS/$key-$tool-$i.log
      rc=0
      build "$tool" cold "$ctx" "$tag" "$log" || rc=$?
      record "$key" "$tool" "$rc" "$log"
      forget_image "$tool" "$tag"
      [[ $tool == hoist ]] && unmount_under "$BDIR/root-cold"
      rm_tree "$ctx"
    done
  done
  rm_tree "$BDIR/root-cold"
}

# rebuild: the cache scenarios (secondary; for the cache issue). Each tool gets its own
# copies of hello and bigcontext and (hoist) its own root, builds both once untimed, then
#   noop-hello, noop-bigcontext: the same build again, nothing changed (all cached);
#   touch-bigcontext: touch-one.sh changed one file (untimed), then the build: COPY data/
#                     and the RUN after it must rebuild, the rest is cached.
scenario_rebuild() {
  local tool i key ctx tag log rc s
  declare -A warm_ok=()
  say "rebuild scenarios: untimed warm-up builds"
  rm_tree "$BDIR/root-warm"
  cp -a "$BASE_ROOT" "$BDIR/root-warm"
  for tool in "${TOOLS[@]}"; do
    warm_ok[$tool]=1
    for s in hello bigcontext; do
      ctx=$BDIR/ctx/warm-$s-$tool-$RUN_ID
      cp -a "$BDIR/samples/$s" "$ctx"
      tag=$(tag_for "warm-$s" "$tool" 0)
      [[ $tool == docker ]] && DOCKER_TAGS+=("$tag")
      [[ $tool == buildah ]] && BUILDAH_TAGS+=("$tag")
      log=$LOGS/warm-$s-$tool.log
      if ! build "$tool" warm "$ctx" "$tag" "$log"; then
        warm_ok[$tool]=0
        say "  warm-up build of $s with $tool FAILED; its rebuild rows will show FAIL:"
        tail -n 5 "$log" | sed 's/^/    /' >&2
      fi
    done
  done
  for key in noop-hello noop-bigcontext touch-bigcontext; do
    say "$key ($RUNS runs per tool)"
    s=${key#*-}
    for ((i = 1; i <= RUNS; i++)); do
      for tool in "${TOOLS[@]}"; do
        ctx=$BDIR/ctx/warm-$s-$tool-$RUN_ID
        tag=$(tag_for "$key" "$tool" "$i")
        log=$LOGS/$key-$tool-$i.log
        [[ $tool == docker ]] && DOCKER_TAGS+=("$tag")
        [[ $tool == buildah ]] && BUILDAH_TAGS+=("$tag")
        if [[ ${warm_ok[$tool]} != 1 ]]; then
          echo "warm-up build failed" >"$log"
          LAST_SECS=0
          record "$key" "$tool" 99 "$log"
          continue
        fi
        [[ $key == touch-* ]] && "$ctx/touch-one.sh" >/dev/null
        rc=0
        build "$tool" warm "$ctx" "$tag" "$log" || rc=$?
        record "$key" "$tool" "$rc" "$log"
      done
    done
  done
  unmount_under "$BDIR/root-warm"
}

# registry-cache: hoist only. A first root builds bigcontext with --cache-to a registry
# (mode=max) and pushes the image (untimed). Then, RUNS times each, on a fresh root holding only
# the base images: (a) build the same sample from a fresh context copy with --cache-from (a CI
# runner with an empty cache: every step must be imported, none run), and (b) `hoist pull` of
# the pushed image, i.e. fetching the same layers. The goal: (a) no slower than (b).
scenario_registry_cache() {
  local ref_cache=$REGISTRY/hoist-bench/cache:$RUN_ID ref_img=$REGISTRY/hoist-bench/img:$RUN_ID
  local i ctx log rc
  say "registry cache: untimed export from a first root"
  rm_tree "$BDIR/root-export" && cp -a "$BASE_ROOT" "$BDIR/root-export"
  ctx=$BDIR/ctx/export-bigcontext-$RUN_ID
  cp -a "$BDIR/samples/bigcontext" "$ctx"
  "$HOIST_BIN" --root "$BDIR/root-export" build --network host -t "$ref_img" \
    --cache-to "type=registry,ref=$ref_cache,mode=max" "$ctx" >"$LOGS/export.log" 2>&1 ||
    { say "  export build FAILED: $(tail -n1 "$LOGS/export.log")"; FAILED=1; return 0; }
  "$HOIST_BIN" --root "$BDIR/root-export" push "$ref_img" >>"$LOGS/export.log" 2>&1 ||
    { say "  push FAILED: $(tail -n1 "$LOGS/export.log")"; FAILED=1; return 0; }
  unmount_under "$BDIR/root-export"; rm_tree "$BDIR/root-export"; rm_tree "$ctx"
  for ((i = 1; i <= RUNS; i++)); do
    ctx=$BDIR/ctx/import-bigcontext-$RUN_ID-$i
    cp -a "$BDIR/samples/bigcontext" "$ctx"
    rm_tree "$BDIR/root-import" && cp -a "$BASE_ROOT" "$BDIR/root-import"
    log=$LOGS/registry-cache-build-$i.log
    sync
    rc=0
    timed "$log" "$HOIST_BIN" --root "$BDIR/root-import" build --network host \
      --cache-from "type=registry,ref=$ref_cache" -t "hoist-bench/import:$i" "$ctx" || rc=$?
    if [[ $rc == 0 ]] && grep -q 'cache miss' "$log"; then rc=98; echo "a step ran" >>"$log"; fi
    record registry-cache hoist "$rc" "$log"
    unmount_under "$BDIR/root-import"; rm_tree "$BDIR/root-import"; rm_tree "$ctx"
    cp -a "$BASE_ROOT" "$BDIR/root-import"
    log=$LOGS/registry-cache-pull-$i.log
    sync
    rc=0
    timed "$log" "$HOIST_BIN" --root "$BDIR/root-import" pull "$ref_img" || rc=$?
    record registry-cache pull "$rc" "$log"
    rm_tree "$BDIR/root-import"
  done
}

# compress: layer-commit throughput. go test's BenchmarkCompress (snapshot/compress_test.go)
# compresses ~100 MB of mixed data with the MemberCompressor (hoist's layer path: a gzip member
# per tar entry, in parallel) and at Concurrency 1, with Compress (pgzip, used for imports and
# conversions), with single-threaded compress/gzip at the same level, and zstd.
COMPRESS_LINES=""
COMPRESS_RATIO=""
COMPRESS_SCALING=""
scenario_compress() {
  local log=$LOGS/compress.log rc=0
  say "layer commit throughput: go test ./snapshot/ -bench BenchmarkCompress -benchtime=3x"
  (cd "$REPO" && go test ./snapshot/ -run '^$' -bench BenchmarkCompress -benchtime=3x) >"$log" 2>&1 || rc=$?
  if [[ $rc != 0 ]]; then
    FAILED=1
    mkdir -p "$DATA/compress"
    { echo "exit status $rc, last lines:"; tail -n 15 "$log"; } >"$DATA/compress/go.log"
    say "  go test FAILED (exit $rc)"
    return 0
  fi
  COMPRESS_LINES=$(grep -E '^Benchmark' "$log" || true)
  # name (without the -GOMAXPROCS suffix) and MB/s of each sub-benchmark
  local mbs
  mbs=$(awk '/^BenchmarkCompress\//{ n = $1; sub(/^BenchmarkCompress\//, "", n); sub(/-[0-9]+$/, "", n)
        for (i = 2; i <= NF; i++) if ($i == "MB/s") print n, $(i - 1) }' "$log")
  COMPRESS_RATIO=$(awk '$1 == "members" { p = $2 } $1 == "compress-gzip" { g = $2 }
        END { if (p && g) printf "%.2f", p / g }' <<<"$mbs")
  COMPRESS_SCALING=$(awk '$1 == "members" { p = $2 } $1 == "members-1-thread" { g = $2 }
        END { if (p && g) printf "%.2f", p / g }' <<<"$mbs")
}

# --------------------------------------------------------------------------- report
# stats FILE: "median min max count" of the numbers in FILE (or "- - - 0").
stats() {
  [[ -s $1 ]] || { echo "- - - 0"; return; }
  sort -g "$1" | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%s %s %s %d\n", m, v[1], v[NR], NR }'
}

nfail() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }

# cell KEY TOOL EXT FMT: "median (min-max)" or FAIL (k/N failed) or "-".
cell() {
  local f=$DATA/$1/$2.$3 med lo hi n k
  read -r med lo hi n < <(stats "$f")
  k=$(nfail "$DATA/$1/$2.fail")
  if ((k > 0)); then echo "FAIL ($k/$((k + n)) runs)"; return; fi
  [[ $n == 0 ]] && { echo "-"; return; }
  # shellcheck disable=SC2059 # the format is ours
  printf "$4 ($4-$4)\n" "$med" "$lo" "$hi"
}

ratio() { # KEY EXT TOOL_A TOOL_B: median(A)/median(B), if both ran without failures
  local a b
  (($(nfail "$DATA/$1/$3.fail") + $(nfail "$DATA/$1/$4.fail") == 0)) || { echo "-"; return; }
  a=$(stats "$DATA/$1/$3.$2" | cut -d' ' -f1)
  b=$(stats "$DATA/$1/$4.$2" | cut -d' ' -f1)
  [[ $a != - && $b != - ]] || { echo "-"; return; }
  awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "-" }'
}

time_row() { # KEY LABEL
  echo "$2|$(cell "$1" hoist t %.2f)|$(cell "$1" docker t %.2f)|$(cell "$1" buildah t %.2f)|$(ratio "$1" t hoist docker)|$(ratio "$1" t hoist buildah)"
}

# table: the rows (pipe-separated) padded into an aligned markdown table.
table() {
  local rows=("scenario|hoist s|docker s|buildah s|hoist/docker|hoist/buildah")
  local s
  for s in hello bigcontext multistage pyapp; do
    [[ -d $DATA/cold-$s ]] && rows+=("$(time_row "cold-$s" "cold build $s")")
    if [[ $s == bigcontext && -d $DATA/cold-bigcontext ]]; then
      rows+=("peak RSS MB, cold bigcontext|$(cell cold-bigcontext hoist rss %.0f)|n/a (daemon)|$(cell cold-bigcontext buildah rss %.0f)|-|$(ratio cold-bigcontext rss hoist buildah)")
    fi
  done
  [[ -d $DATA/noop-hello ]] && rows+=("$(time_row noop-hello "no-op rebuild hello")")
  [[ -d $DATA/noop-bigcontext ]] && rows+=("$(time_row noop-bigcontext "no-op rebuild bigcontext")")
  [[ -d $DATA/touch-bigcontext ]] && rows+=("$(time_row touch-bigcontext "rebuild bigcontext, 1 file touched")")
  printf '%s\n' "${rows[@]}" | awk -F'|' '
    { for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NF }
    END {
      for (r = 1; r <= NR; r++) {
        line = "|"
        for (i = 1; i <= n; i++) line = line sprintf(" %-" w[i] "s |", c[r, i])
        print line
        if (r == 1) { line = "|"; for (i = 1; i <= n; i++) { d = ""; for (j = 0; j < w[i] + 2; j++) d = d "-"; line = line d "|" } print line }
      }
    }'
}

goals() {
  local max
  if [[ -s $DATA/cold-bigcontext/hoist.rss ]]; then
    max=$(stats "$DATA/cold-bigcontext/hoist.rss" | cut -d' ' -f3)
    echo "- peak RSS of \`hoist build\` on bigcontext (cold): max $max MB over $(wc -l <"$DATA/cold-bigcontext/hoist.rss") runs; goal < 150 MB: $(awk -v m="$max" 'BEGIN { print (m < 150) ? "met" : "NOT met" }')"
  fi
  if [[ -s $DATA/registry-cache/hoist.t && -s $DATA/registry-cache/pull.t ]]; then
    echo "- warm build of bigcontext from a registry cache on an empty root: $(cell registry-cache hoist t %.2f) s; \`hoist pull\` of the same image: $(cell registry-cache pull t %.2f) s; ratio $(ratio registry-cache t hoist pull); goal <= 1.0"
  fi
  if [[ -n $COMPRESS_RATIO ]]; then
    echo "- layer gzip throughput, hoist's layer compression (a gzip member per entry, parallel) / single-threaded compress/gzip: ${COMPRESS_RATIO}x; goal >= 2x: $(awk -v r="$COMPRESS_RATIO" 'BEGIN { print (r >= 2) ? "met" : "NOT met" }')"
    echo "- for scale: the same at $(nproc) threads / at Concurrency 1: ${COMPRESS_SCALING}x"
  fi
}

failures() {
  local f
  for f in "$DATA"/*/*.log; do
    [[ -e $f ]] || continue
    printf '\n%s %s:\n```\n' "$(basename "$(dirname "$f")")" "$(basename "$f" .log)"
    cat "$f"
    printf '```\n'
  done
}

docker_cache_bytes() { # total build-cache size dockerd reports (bytes)
  curl -fsS --unix-socket /var/run/docker.sock http://localhost/system/df 2>/dev/null |
    python3 -c 'import json, sys; print(sum(r["Size"] for r in json.load(sys.stdin).get("BuildCache") or []))' 2>/dev/null || echo 0
}

# prune_docker_cache SINCE: removes the unused build-cache records created after SINCE
# (RFC 3339) one by one (BENCH_PRUNE_DOCKER=1 only: other users' records go too).
prune_docker_cache() {
  local id
  curl -fsS --unix-socket /var/run/docker.sock http://localhost/system/df |
    python3 -c 'import json, sys
since = sys.argv[1]
for r in json.load(sys.stdin).get("BuildCache") or []:
    if r["CreatedAt"][:19] >= since and not r["InUse"]:
        print(r["ID"])' "$1" | while read -r id; do
    "$DOCKER" builder prune -af --filter "id=^$id\$" >/dev/null 2>&1 || true
  done
}

# --------------------------------------------------------------------------- cleanup
cleanup() {
  local rc=$? t
  trap - EXIT INT TERM
  for t in "${DOCKER_TAGS[@]}"; do forget_image docker "$t"; done
  for t in "${BUILDAH_TAGS[@]}"; do forget_image buildah "$t"; done
  if [[ -n ${DOCKER_CACHE0:-} ]]; then
    [[ $PRUNE_DOCKER == 1 ]] && prune_docker_cache "$BENCH_START_UTC"
    say "docker build cache: $((DOCKER_CACHE0 / 1048576)) MB before, $(($(docker_cache_bytes) / 1048576)) MB now$([[ $PRUNE_DOCKER == 1 ]] || echo ' (BENCH_PRUNE_DOCKER=1 prunes what the bench added)')"
  fi
  local left
  left=$("$DOCKER" images -q --filter 'reference=hoist-bench/*' 2>/dev/null | sort -u | wc -l)
  ((left == 0)) || say "WARNING: $left docker image(s) hoist-bench/* left behind"
  left=$(buildah images -n --format '{{.Name}}' 2>/dev/null | grep -c 'hoist-bench/' || true)
  ((left == 0)) || say "WARNING: $left buildah image(s) hoist-bench/* left behind"
  if [[ -f $BDIR/.hoist-bench ]]; then
    if [[ $KEEP == 1 ]]; then say "kept $BDIR (BENCH_KEEP=1)"; else rm_tree "$BDIR"; fi
  fi
  exit "$rc"
}

# --------------------------------------------------------------------------- main
main() {
  preflight
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  BENCH_START_UTC=$(date -u +%Y-%m-%dT%H:%M:%S)
  DOCKER_CACHE0=$(docker_cache_bytes)
  local load0 s
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  awk -v l="${load0%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }' &&
    say "WARNING: load average is $load0 on $(nproc) CPUs: other work will make the numbers noisy"
  setup_scratch
  setup_hoist_base

  want cold-hello && scenario_cold hello
  want cold-bigcontext && scenario_cold bigcontext
  if [[ $ALL == 1 ]]; then
    for s in multistage pyapp; do scenario_cold "$s"; done
  fi
  want rebuild && scenario_rebuild
  want registry-cache && scenario_registry_cache
  want compress && scenario_compress

  local out date
  date=$(date +%Y-%m-%d-%H%M%S)
  mkdir -p "$HERE/results"
  out=$HERE/results/$date.md
  {
    echo "# hoist bench $date"
    echo
    echo "- hoist: $("$HOIST_BIN" version 2>/dev/null | head -n1 | sed "s/^hoist version //") (tree: $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown))"
    echo "- docker: $("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null) (BuildKit, /usr/bin/docker CLI); buildah: $(buildah --version | cut -d' ' -f3)"
    echo "- machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
    echo "- runs per cell: $RUNS; cells are median (min-max) seconds; load average at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
    echo
    table
    local g
    g=$(goals)
    [[ -z $g ]] || printf '\n%s\n' "$g"
    if [[ -n $COMPRESS_LINES ]]; then
      # shellcheck disable=SC2016 # backquotes are markdown here
      printf '\n`%s`:\n\n```\n%s\n```\n' "go test ./snapshot/ -run '^\$' -bench BenchmarkCompress -benchtime=3x" "$COMPRESS_LINES"
    fi
    if ((FAILED)); then
      printf '\n## Failures\n'
      failures
    fi
  } >"$out"
  cat "$out"
  say "results written to ${out#"$REPO"/}"
  ((FAILED == 0)) || exit 2
}

# Sourced (bench/honesty_test.go tests the helpers), it only defines them.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
