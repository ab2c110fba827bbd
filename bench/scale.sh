#!/usr/bin/env bash
# shellcheck disable=SC2317 # cleanup and prune_docker_cache run from the EXIT trap
# bench/scale.sh - how hoist's costs grow (issue 15's scale benchmark): no-op rebuild against the
# number of context files, incremental rebuild against the size of the context, peak memory of
# build/push/pull against the size of the layers, push/pull against the number of layers. hoist runs
# interleaved with its peers (docker 20.10 with BuildKit for builds, skopeo for push/pull).
#
#   make build && sudo bench/scale.sh      # ~15 min on 2 quiet CPUs with the defaults
#   sudo SCALE_QUICK=1 bench/scale.sh      # tiny sizes, for development (results say QUICK)
#
# Scenarios (SCALE_SCENARIOS, default all, run in this order):
#   memory       per context size (150 MiB, 1.5 GiB): a cold build (a fresh root holding only the
#                busybox base), a push of the result to a fresh docker-registry, a pull of it into a
#                fresh root; hoist only. Each command runs in a memory cgroup of its own (see
#                "Peak memory" below); time, CPU and peak memory per size.
#   noop         per file count (1k, 10k, 100k small files): the same build again, nothing changed;
#                hoist and docker. Checked: no step ran (hoist prints no "cache miss", BuildKit marks
#                every step CACHED).
#   incremental  per context size: one file under data/ changed (COPY data/ and the RUN after it
#                rerun), then app/main.txt changed (only COPY app/ and its RUN rerun); hoist and
#                docker. Checked: hoist reran exactly those steps.
#   layers       per layer count (5, 50, 125 layers of 2 MiB random bytes): a push of the image to a
#                fresh docker-registry and a pull of it into an empty place; hoist (from its store /
#                into a fresh root) and skopeo (from an OCI layout of the same blobs, `hoist save
#                --format oci-archive` / into an empty oci: dir), with the CPU time of the tool and of
#                the registry (the "cores used" column) and the tool's peak memory.
# Contexts come from hack/scalegen.py (deterministic) and are kept between runs under SCALE_CACHE
# (~2.2 GiB for the defaults); generating them is never timed.
#
# Peak memory: the command runs in a cgroup the bench creates (v1 memory controller, or v2). The
# figure is the peak of the cgroup's anon + mapped-file memory (memory.stat total_rss +
# total_mapped_file on v1, anon + file_mapped on v2), sampled every 20 ms: the sum over hoist's whole
# process tree (re-execs and helpers, and the RUN steps, whose cgroups hoist nests under its own),
# shared pages counted once. Also shown: the cgroup's memory.max_usage_in_bytes (v1) / memory.peak
# (v2), which counts the page cache of every file the command wrote (it grows with the data written
# and says nothing of hoist's memory), and GNU time's %M, the largest single process.
#
# Env:
#   BENCH_RUNS=6         runs of no-op, the 150 MiB incremental rebuilds and the layer push/pull
#   SCALE_BIG_RUNS=3     runs of the 1.5 GiB incremental rebuilds (hoist ~5-25 s, docker ~20 s each)
#   SCALE_MEM_RUNS=1     runs of the cold build, push and pull of each size (the memory scenario:
#                        a peak; the cold 1.5 GiB build alone takes ~30-70 s)
#   SCALE_QUICK=0        1: files 100/300/1000, sizes 4/12 MiB, layers 2/4/6 of 256 KiB, runs 2/1/1
#   SCALE_SCENARIOS="memory noop incremental layers"
#   SCALE_CACHE=/var/tmp/hoist-scale-cache   generated contexts (kept; delete it to get the space back)
#   SCALE_TIMEOUT=1800   seconds before one command is killed (and the bench fails)
#   SCALE_PRUNE_DOCKER=1 0: keep the docker build-cache records of this bench's builds (see README)
#   BENCH_DIR=/var/tmp/hoist-scale   scratch dir (roots, registries, logs), removed at exit
#   BENCH_RESULTS=bench/results       where scale-<date>.md goes
#   HOIST=bin/hoist, DOCKER=/usr/bin/docker, BENCH_REGISTRY=127.0.0.1:5000 (holds library/busybox)
#
# Results: stdout and $BENCH_RESULTS/scale-<date>.md (scale-quick-<date>.md with SCALE_QUICK=1),
# written only when every command ran: a failed command stops the bench with exit status 2, names the
# command and writes no result file. Exit status 1: a prerequisite is missing (one line says which).
# A goal that is not met does not change the exit status: the tables say so.
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
QUICK=${SCALE_QUICK:-0}
if [[ $QUICK == 1 ]]; then
  FILES=(100 300 1000) SIZES=(4 12) LAYERS=(2 4 6) LAYER_KIB=256
  RUNS=${BENCH_RUNS:-2} BIG_RUNS=${SCALE_BIG_RUNS:-1} MEM_RUNS=${SCALE_MEM_RUNS:-1} NEED_GB=2
else
  FILES=(1000 10000 100000) SIZES=(150 1536) LAYERS=(5 50 125) LAYER_KIB=2048
  RUNS=${BENCH_RUNS:-6} BIG_RUNS=${SCALE_BIG_RUNS:-3} MEM_RUNS=${SCALE_MEM_RUNS:-1} NEED_GB=25
fi
SCENARIOS=${SCALE_SCENARIOS:-memory noop incremental layers}
CACHE=${SCALE_CACHE:-/var/tmp/hoist-scale-cache}
TIMEOUT=${SCALE_TIMEOUT:-1800}
PRUNE_DOCKER=${SCALE_PRUNE_DOCKER:-1}
BDIR=${BENCH_DIR:-/var/tmp/hoist-scale}
RESULTS=${BENCH_RESULTS:-$REPO/bench/results}
HOIST_SRC=${HOIST:-$REPO/bin/hoist}
DOCKER=${DOCKER:-/usr/bin/docker} # the 20.10 CLI: /usr/local/bin/docker (28.x) has no buildx for BuildKit
REG=${BENCH_REGISTRY:-127.0.0.1:5000}
RUN_ID=$(date +%Y%m%d%H%M%S)-$$
TREE=$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo unknown) # at the start
H=$BDIR/hoist
DATA=$BDIR/data # DATA/<key>.{ms,cpu,rss,mem,usage,regcpu}: one number per run
LOGS=$BDIR/logs
DOCKER_TAGS=()
DOCKER_IDS=() # every image a docker build made: a moved tag leaves the old one dangling
REGPID=
PORT_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
PORT=$((10000 + RANDOM % (PORT_LOW - 12000))) # next registry port: random, so skopeo's blob cache knows none
CGROOT=
CGV=
T_START=$EPOCHREALTIME

die() { echo "bench/scale.sh: $*" >&2; exit 1; }
say() { echo "bench/scale.sh: $*" >&2; }
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# ---------------------------------------------------------------------------- prerequisites
preflight() {
  [[ $(id -u) == 0 ]] || die "run as root (builds need namespaces, the bench creates cgroups)"
  local v
  for v in RUNS BIG_RUNS MEM_RUNS TIMEOUT; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
  done
  for v in $SCENARIOS; do
    [[ " memory noop incremental layers " == *" $v "* ]] || die "unknown scenario '$v' in SCALE_SCENARIOS"
  done
  [[ -x $HOIST_SRC ]] || die "no hoist binary at $HOIST_SRC (make build)"
  [[ -x $DOCKER ]] || die "no docker CLI at $DOCKER (bash /work/shared/refenv/setup.sh)"
  "$DOCKER" info >/dev/null 2>&1 || die "dockerd is not answering ($DOCKER info failed)"
  "$DOCKER" image inspect busybox:latest >/dev/null 2>&1 || die "dockerd has no busybox:latest (bash /work/shared/refenv/setup.sh)"
  curl -sf "http://$REG/v2/library/busybox/tags/list" >/dev/null ||
    die "no registry with library/busybox at $REG (bash /work/shared/refenv/setup.sh)"
  command -v docker-registry >/dev/null || die "no docker-registry (apt-get install docker-registry)"
  command -v skopeo >/dev/null || die "no skopeo (apt-get install skopeo)"
  command -v python3 >/dev/null || die "no python3 (hack/scalegen.py generates the contexts)"
  command -v flock >/dev/null || die "no flock (util-linux)"
  [[ -x /usr/bin/time ]] || die "no /usr/bin/time (apt-get install time)"
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    CGV=2 CGROOT=/sys/fs/cgroup/hoist-scale/$RUN_ID
    grep -qw memory /sys/fs/cgroup/cgroup.controllers || die "the cgroup v2 root has no memory controller"
  elif [[ -f /sys/fs/cgroup/memory/memory.stat ]]; then
    CGV=1 CGROOT=/sys/fs/cgroup/memory/hoist-scale/$RUN_ID
  else
    die "no memory cgroup controller (neither /sys/fs/cgroup/memory nor a cgroup v2 root)"
  fi
  mkdir -p "$CACHE" "$(dirname "$BDIR")"
  local gb
  gb=$(df -k --output=avail "$(dirname "$BDIR")" | awk 'NR == 2 { printf "%d", $1 / 1048576 }')
  ((gb >= NEED_GB)) || die "$(dirname "$BDIR") has $gb GB free; the bench needs $NEED_GB GB (roots, registries, docker's copies)"
}

# ---------------------------------------------------------------------------- scratch, cleanup
rm_tree() { # unmounts what a failed hoist left mounted under $1, then removes it
  [[ -e $1 ]] || return 0
  local m
  findmnt -rn -o TARGET | awk -v d="$1/" 'index($0, d) == 1' | sort -r | while read -r m; do
    say "WARNING: $m was still mounted; unmounting it"
    umount "$m" 2>/dev/null || umount -l "$m" || true
  done
  rm -rf --one-file-system "$1"
}

setup_scratch() {
  exec {BLOCKFD}>"$BDIR.lock"
  flock -n "$BLOCKFD" || die "another bench/scale.sh uses $BDIR (the lock $BDIR.lock is held): set BENCH_DIR"
  if [[ -e $BDIR ]]; then
    [[ -f $BDIR/.hoist-scale ]] || die "$BDIR exists and is not a scale bench scratch dir (no .hoist-scale): set BENCH_DIR"
    rm_tree "$BDIR"
  fi
  mkdir -p "$BDIR" "$DATA" "$LOGS"
  touch "$BDIR/.hoist-scale"
  cp "$HOIST_SRC" "$H" # others may rebuild bin/hoist meanwhile
  mkdir -p "$CGROOT"
}

cleanup() {
  local rc=$? t
  trap - EXIT INT TERM
  set +e
  stop_registry
  for t in "${DOCKER_TAGS[@]}" "${DOCKER_IDS[@]}"; do "$DOCKER" rmi "$t" >/dev/null 2>&1; done
  [[ $PRUNE_DOCKER == 1 && -n ${T_START_UTC:-} ]] && prune_docker_cache
  if [[ -n $CGROOT && -d $CGROOT ]]; then
    find "$CGROOT" -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$(dirname "$CGROOT")" 2>/dev/null # if no other run uses it
  fi
  [[ -f $BDIR/.hoist-scale ]] && rm_tree "$BDIR"
  [[ -z ${RESULT:-} ]] || rm -f "$RESULT.partial"
  exit "$rc"
}

# prune_docker_cache: removes the build-cache records this bench's docker builds made: the RUN
# steps of the scalegen Dockerfile (/ctx-entries, /app-size) created since the start, their parents
# and their descendants created since the start (the COPY steps). The context transfers
# (source.local, one per context path, reused by the next run) are kept; other users' records are
# never touched. BuildKit removes a parent only once its children are gone: a few passes.
prune_docker_cache() {
  local ids _
  for _ in 1 2 3; do
    ids=$(curl -fsS --unix-socket /var/run/docker.sock http://localhost/system/df 2>/dev/null |
      python3 -c 'import json, sys
since = sys.argv[1]
recs = {r["ID"]: r for r in json.load(sys.stdin).get("BuildCache") or []}
new = lambda r: r is not None and r["CreatedAt"][:19] >= since and r["Type"] == "regular"
mine = set()
for r in recs.values():
    if new(r) and ("> /ctx-entries" in r["Description"] or "> /app-size" in r["Description"]):
        while new(r) and r["ID"] not in mine:
            mine.add(r["ID"])
            r = recs.get(r["Parent"])
grew = True
while grew:
    kids = {r["ID"] for r in recs.values() if new(r) and r["Parent"] in mine} - mine
    mine |= kids
    grew = bool(kids)
print("|".join(sorted(i for i in mine if not recs[i]["InUse"])))' "$T_START_UTC") || return 0
    [[ -n $ids ]] || return 0
    "$DOCKER" builder prune -af --filter "id=^($ids)\$" >/dev/null 2>&1 || return 0
  done
}

# ---------------------------------------------------------------------------- contexts
# gen KIND NAME ARGS...: CACHE/NAME from hack/scalegen.py (untimed; a no-op when up to date).
gen() {
  local kind=$1 name=$2
  shift 2
  python3 "$REPO/hack/scalegen.py" "$kind" "$CACHE/$name" "$@" >&2 || die "hack/scalegen.py $kind $CACHE/$name $* failed"
}

prepare_contexts() {
  local n
  say "contexts under $CACHE (generated once, kept between runs)"
  exec {LOCKFD}>"$CACHE/.lock"
  flock -n "$LOCKFD" || die "another bench/scale.sh uses $CACHE (its lock is held)"
  if want noop; then for n in "${FILES[@]}"; do gen files "files-$n" --files "$n"; done; fi
  if want memory || want incremental; then for n in "${SIZES[@]}"; do gen size "size-$n" --mib "$n"; done; fi
  if want layers; then for n in "${LAYERS[@]}"; do gen layers "layers-${n}x$LAYER_KIB" --layers "$n" --kib "$LAYER_KIB"; done; fi
  for n in "$CACHE"/files-* "$CACHE"/size-*; do # the files the incremental rebuilds change
    [[ -d $n/data ]] || continue
    printf 'touch 0\n' >"$n/data/touch.txt"
    printf 'app 0\n' >"$n/app/main.txt"
  done
  sync
}

# base_root DIR: a hoist root holding only the busybox base (a copy of one pulled once).
base_root() {
  if [[ ! -d $BDIR/base-root ]]; then
    "$H" --root "$BDIR/base-root" pull -q "$REG/library/busybox" >"$LOGS/base.log" 2>&1 ||
      { cat "$LOGS/base.log" >&2; die "FAILED: hoist pull $REG/library/busybox"; }
    "$H" --root "$BDIR/base-root" tag "$REG/library/busybox" busybox >>"$LOGS/base.log" 2>&1 ||
      { cat "$LOGS/base.log" >&2; die "FAILED: hoist tag $REG/library/busybox busybox"; }
    [[ -d $BDIR/base-root ]] || die "FAILED: hoist pull made no root at $BDIR/base-root"
  fi
  rm_tree "$1"
  cp -a "$BDIR/base-root" "$1"
}

# ---------------------------------------------------------------------------- registry
stop_registry() {
  [[ -n $REGPID ]] || return 0
  kill "$REGPID" 2>/dev/null || true
  wait "$REGPID" 2>/dev/null || true
  REGPID=
  rm_tree "$BDIR/registry"
}

# start_registry: a fresh, empty docker-registry on the next free loopback port; sets REGADDR.
# A fresh one per push: every tool's blob cache (hoist's registry/blobs.json, skopeo's blob-info
# cache) is keyed by host:port, so nothing is mounted from an earlier push. The ports lie below the
# kernel's ephemeral range (a client connection's local port would make a bind there fail), and a
# port another process took meanwhile makes it try the next one.
start_registry() {
  stop_registry
  local i try
  for try in $(seq 20); do
    while (: </dev/tcp/127.0.0.1/$PORT) 2>/dev/null; do PORT=$((PORT + 1)); done
    mkdir -p "$BDIR/registry"
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
      "$BDIR/registry" "$PORT" >"$BDIR/registry.yml"
    docker-registry serve "$BDIR/registry.yml" >"$LOGS/registry-$PORT.log" 2>&1 &
    REGPID=$!
    REGADDR=127.0.0.1:$PORT
    PORT=$((PORT + 1))
    for i in $(seq 100); do
      curl -sf "http://$REGADDR/v2/" >/dev/null && return 0
      kill -0 "$REGPID" 2>/dev/null || break # it exited (the port was taken): the next port
      sleep 0.1
    done
    grep -q 'address already in use' "$LOGS/registry-${REGADDR##*:}.log" || break
    say "port ${REGADDR##*:} was taken; trying the next one (try $try)"
    REGPID=
  done
  die "FAILED: docker-registry on $REGADDR did not start: $(tail -n 3 "$LOGS/registry-${REGADDR##*:}.log")"
}

reg_cpu_ms() { # CPU time (user + sys) of the registry process so far, in ms
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%d\n", ($12 + $13) * 1000 / hz }' "/proc/$REGPID/stat"
}

# ---------------------------------------------------------------------------- running
# sampler CG OUT STOP: the peak of anon + mapped-file memory of cgroup CG, every 20 ms, until STOP
# exists; writes it (bytes) to OUT. No process is forked per sample.
sampler() {
  local cg=$1 out=$2 stop=$3 max=0 a m k v fd
  exec {fd}<> <(:)
  while :; do
    a=0 m=0
    while read -r k v; do
      case $k in total_rss | anon) a=$v ;; total_mapped_file | file_mapped) m=$v ;; esac
    done <"$cg/memory.stat"
    ((a + m > max)) && max=$((a + m))
    [[ -e $stop ]] && break
    read -r -t 0.02 -u "$fd" || true
  done
  echo "$max" >"$out"
}

# timed KEY MODE CMD...: runs CMD (output to LOGS/KEY-n.log) under GNU time and a timeout and
# appends to DATA/KEY.*: ms (wall), cpu (user + sys ms of CMD and its waited descendants), rss (the
# largest process, KB). MODE cg: also in a memory cgroup of its own: mem (the sampled peak of the
# tree, bytes) and usage (the cgroup's max usage incl. page cache, bytes); with a registry up, regcpu
# (its CPU ms during CMD). A failed command stops the bench (exit 2) and names it.
timed() {
  local key=$1 mode=$2 n cg='' t0 t1 rc=0 r0=0 spid
  shift 2
  mkdir -p "$(dirname "$DATA/$key")" "$(dirname "$LOGS/$key")"
  n=$(($(wc -l 2>/dev/null <"$DATA/$key.ms" || echo 0) + 1))
  local log=$LOGS/$key-$n.log
  local wrap=()
  if [[ $mode == cg ]]; then
    cg=$CGROOT/$RUN_ID-$((++CGN))
    mkdir "$cg"
    rm -f "$log.stop"
    sampler "$cg" "$log.mem" "$log.stop" &
    spid=$!
    # shellcheck disable=SC2016 # $$ and $0 are the inner shell's
    wrap=(bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg")
    [[ -n $REGPID ]] && r0=$(reg_cpu_ms)
  fi
  sync # writeback of the untimed preparation does not land in the timed command
  t0=$EPOCHREALTIME
  /usr/bin/time -f '%U %S %M' -o "$log.time" timeout --kill-after=10 "$TIMEOUT" "${wrap[@]}" "$@" >"$log" 2>&1 || rc=$?
  t1=$EPOCHREALTIME
  if [[ -n $cg ]]; then
    touch "$log.stop"
    wait "$spid"
    [[ -n $REGPID ]] && echo $(($(reg_cpu_ms) - r0)) >>"$DATA/$key.regcpu"
    cat "$log.mem" >>"$DATA/$key.mem"
    cat "$cg/memory.max_usage_in_bytes" 2>/dev/null >>"$DATA/$key.usage" || cat "$cg/memory.peak" >>"$DATA/$key.usage" 2>/dev/null || true
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || say "WARNING: could not remove cgroup $cg (a process left in it?)"
  fi
  if ((rc != 0)); then
    echo "bench/scale.sh: FAILED (exit $rc): $*" >&2
    tail -n 15 "$log" | sed 's/^/    /' >&2
    exit 2
  fi
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d\n", (b - a) * 1000 }' >>"$DATA/$key.ms"
  awk '{ printf "%d\n", ($1 + $2) * 1000 }' <(tail -n 1 "$log.time") >>"$DATA/$key.cpu"
  awk '{ print $3 }' <(tail -n 1 "$log.time") >>"$DATA/$key.rss"
  say "  $key: $(tail -n 1 "$DATA/$key.ms") ms"
  LAST_LOG=$log
}
CGN=0

# expect_steps TOOL LOG N WHAT: the build in LOG ran exactly N steps (hoist: "cache miss" lines;
# docker: steps with a DONE line, FROM excluded), or the bench stops: a "no-op" that rebuilt or an
# "incremental" rebuild that did more or less than it should measures something else.
expect_steps() {
  local tool=$1 log=$2 want=$3 got
  if [[ $tool == hoist ]]; then
    got=$(grep -c ': cache miss' "$log" || true)
  else
    got=$(awk 'match($0, /^#[0-9]+ \[[0-9]+\/[0-9]+\]/) && $2 !~ /^\[1\// { step[$1] = 1 }
               $2 == "DONE" && step[$1] { n++ } END { print n + 0 }' "$log")
  fi
  [[ $got == "$want" ]] || { tail -n 20 "$log" >&2; echo "bench/scale.sh: FAILED: $tool ran $got steps in $4, expected $want ($log)" >&2; exit 2; }
}

hoist_build() { # KEY MODE ROOT CTX TAG: a timed hoist build
  timed "$1" "$2" "$H" --root "$3" build --network host -t "$5" "$4"
}

docker_build() { # KEY MODE CTX TAG: a timed docker build (BuildKit); its tag and image go at exit
  DOCKER_TAGS+=("$4")
  timed "$1" "$2" env DOCKER_BUILDKIT=1 "$DOCKER" build --progress plain --network host \
    --iidfile "$BDIR/iid" -t "$4" "$3"
  if [[ -s $BDIR/iid ]]; then DOCKER_IDS+=("$(cat "$BDIR/iid")"); fi
  rm -f "$BDIR/iid"
}

# ---------------------------------------------------------------------------- scenarios
# memory: per size, MEM_RUNS times: cold build in a fresh root, push to a fresh registry, pull into
# a fresh root; each in a cgroup. The last run's root is kept for the incremental scenario.
scenario_memory() {
  local s i ref
  for s in "${SIZES[@]}"; do
    for ((i = 1; i <= MEM_RUNS; i++)); do
      say "memory: size-$s run $i/$MEM_RUNS"
      base_root "$BDIR/root-size-$s"
      hoist_build "mem/size-$s/build" cg "$BDIR/root-size-$s" "$CACHE/size-$s" "scale/size-$s"
      start_registry
      ref=$REGADDR/scale-$RUN_ID/size-$s:$i
      timed "mem/size-$s/push" cg "$H" --root "$BDIR/root-size-$s" push -q "scale/size-$s" "$ref"
      rm_tree "$BDIR/pull-root"
      timed "mem/size-$s/pull" cg "$H" --root "$BDIR/pull-root" pull -q "$ref"
      rm_tree "$BDIR/pull-root"
      stop_registry
    done
  done
}

# noop: per file count, a warm-up build per tool (untimed), then RUNS rounds of the same build
# again, the tools alternating which goes first.
scenario_noop() {
  local n i tool order
  say "no-op: warm-up builds"
  base_root "$BDIR/root-noop"
  for n in "${FILES[@]}"; do
    hoist_build "warmup/noop-files-$n/hoist" - "$BDIR/root-noop" "$CACHE/files-$n" "scale/files-$n"
    docker_build "warmup/noop-files-$n/docker" - "$CACHE/files-$n" "hoist-scale/files-$n:$RUN_ID"
  done
  for ((i = 1; i <= RUNS; i++)); do
    say "no-op: round $i/$RUNS"
    order=(hoist docker)
    ((i % 2)) || order=(docker hoist)
    for n in "${FILES[@]}"; do
      for tool in "${order[@]}"; do
        if [[ $tool == hoist ]]; then
          hoist_build "noop/files-$n/hoist" - "$BDIR/root-noop" "$CACHE/files-$n" "scale/files-$n"
        else
          docker_build "noop/files-$n/docker" - "$CACHE/files-$n" "hoist-scale/files-$n:$RUN_ID"
        fi
        expect_steps "$tool" "$LAST_LOG" 0 "a no-op rebuild of files-$n"
      done
    done
  done
}

# incremental: per size, a warm root (the memory scenario's, or a warm-up build) and a docker
# warm-up; then rounds over the sizes (the largest in BIG_RUNS rounds spread over the RUNS, so that
# load drift hits every size alike; the tools alternate going first per size) of: change data/touch.txt, build with each tool; change app/main.txt,
# build with each tool. Both tools see the same change since their last build.
scenario_incremental() {
  local s i tool order what file steps rounds=$RUNS
  ((BIG_RUNS > rounds)) && rounds=$BIG_RUNS
  for s in "${SIZES[@]}"; do
    say "incremental: size-$s warm-up builds"
    if [[ ! -d $BDIR/root-size-$s ]]; then
      base_root "$BDIR/root-size-$s"
      hoist_build "warmup/inc-size-$s/hoist" - "$BDIR/root-size-$s" "$CACHE/size-$s" "scale/size-$s"
    fi
    docker_build "warmup/inc-size-$s/docker" - "$CACHE/size-$s" "hoist-scale/size-$s:$RUN_ID"
  done
  local every=$(((rounds + BIG_RUNS - 1) / BIG_RUNS)) k=0
  declare -A n=()
  for ((i = 1; i <= rounds; i++)); do
    say "incremental: round $i/$rounds"
    for s in "${SIZES[@]}"; do
      if [[ $s == "${SIZES[-1]}" ]]; then # the largest size every $every rounds, BIG_RUNS times
        (((i - 1) % every == 0 && k < BIG_RUNS)) || continue
        k=$((k + 1))
      else
        ((i <= RUNS)) || continue
      fi
      n[$s]=$((${n[$s]:-0} + 1))
      order=(hoist docker)
      ((n[$s] % 2)) || order=(docker hoist)
      for what in data app; do
        if [[ $what == data ]]; then
          file=data/touch.txt steps=4
        else
          file=app/main.txt steps=2
        fi
        printf '%s %s %s\n' "$what" "$RUN_ID" "$i" >"$CACHE/size-$s/$file" # untimed; the same change for both
        for tool in "${order[@]}"; do
          if [[ $tool == hoist ]]; then
            hoist_build "inc/$what/size-$s/hoist" - "$BDIR/root-size-$s" "$CACHE/size-$s" "scale/size-$s"
          else
            docker_build "inc/$what/size-$s/docker" - "$CACHE/size-$s" "hoist-scale/size-$s:$RUN_ID"
          fi
          expect_steps "$tool" "$LAST_LOG" "$steps" "a rebuild after $file changed (size-$s)"
        done
      done
    done
  done
  for s in "${SIZES[@]}"; do rm_tree "$BDIR/root-size-$s"; done
}

# layers: per layer count, the image built once (untimed) and saved as an OCI layout for skopeo;
# then RUNS rounds of, per layer count, on a fresh registry: push (hoist, skopeo), pull of hoist's
# push (hoist into a fresh root, skopeo into an empty oci: dir); the tools alternate going first.
scenario_layers() {
  local n i tool order ref
  say "layers: building the images (untimed)"
  base_root "$BDIR/root-layers"
  for n in "${LAYERS[@]}"; do
    hoist_build "warmup/layers-$n" - "$BDIR/root-layers" "$CACHE/layers-${n}x$LAYER_KIB" "scale/layers-$n"
    "$H" --root "$BDIR/root-layers" save --format oci-archive -o "$BDIR/layers-$n.tar" "scale/layers-$n" >"$LOGS/save-$n.log" 2>&1 ||
      { cat "$LOGS/save-$n.log" >&2; echo "bench/scale.sh: FAILED: hoist save scale/layers-$n" >&2; exit 2; }
    mkdir -p "$BDIR/oci-$n"
    tar -xf "$BDIR/layers-$n.tar" -C "$BDIR/oci-$n"
    rm -f "$BDIR/layers-$n.tar"
    du -sb "$BDIR/oci-$n/blobs" | cut -f1 >"$DATA/layers-$n.bytes"
    local got
    got=$("$H" --root "$BDIR/root-layers" inspect --format '{{len .RootFS.Layers}}' "scale/layers-$n" 2>/dev/null || true)
    [[ $got == "$n" ]] || { echo "bench/scale.sh: FAILED: scale/layers-$n has '$got' layers, expected $n" >&2; exit 2; }
  done
  for ((i = 1; i <= RUNS; i++)); do
    say "layers: round $i/$RUNS"
    order=(hoist skopeo)
    ((i % 2)) || order=(skopeo hoist)
    for n in "${LAYERS[@]}"; do
      start_registry
      ref=$REGADDR/scale-$RUN_ID/layers-$n
      for tool in "${order[@]}"; do
        if [[ $tool == hoist ]]; then
          timed "layers/push/$n/hoist" cg "$H" --root "$BDIR/root-layers" push -q "scale/layers-$n" "$ref-hoist:1"
        else
          timed "layers/push/$n/skopeo" cg skopeo copy -q --dest-tls-verify=false "oci:$BDIR/oci-$n" "docker://$ref-skopeo:1"
        fi
      done
      for tool in "${order[@]}"; do
        rm_tree "$BDIR/pull-root"
        rm_tree "$BDIR/pull-oci"
        if [[ $tool == hoist ]]; then
          timed "layers/pull/$n/hoist" cg "$H" --root "$BDIR/pull-root" pull -q "$ref-hoist:1"
        else
          timed "layers/pull/$n/skopeo" cg skopeo copy -q --src-tls-verify=false "docker://$ref-hoist:1" "oci:$BDIR/pull-oci"
        fi
      done
      rm_tree "$BDIR/pull-root"
      rm_tree "$BDIR/pull-oci"
      stop_registry
    done
  done
}

# ---------------------------------------------------------------------------- report
# med KEY EXT: the median of DATA/KEY.EXT ("-" if there is none).
med() {
  local f=$DATA/$1.$2
  [[ -s $f ]] || { echo -; return; }
  sort -g "$f" | awk '{ v[NR] = $1 } END { printf "%d\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maxv() { [[ -s $DATA/$1.$2 ]] && sort -g "$DATA/$1.$2" | tail -n 1 || echo -; }
div() { # A B [FMT]: A/B, or "-"
  awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf f "\n", a / b }'
}
sec() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.2f\n", a / 1000 }'; }
mb() { awk -v a="$1" -v d="${2:-1048576}" 'BEGIN { if (a == "-") print "-"; else printf "%.0f\n", a / d }'; }
cores() { # KEY: median of (cpu / wall) per run, from the paired lines of KEY.cpu and KEY.ms
  [[ -s $DATA/$1.cpu ]] || { echo -; return; }
  paste "$DATA/$1.cpu" "$DATA/$1.ms" | awk '$2 > 0 { print $1 / $2 }' | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
cores_reg() { # KEY: median of ((cpu + registry cpu) / wall)
  [[ -s $DATA/$1.regcpu ]] || { echo -; return; }
  paste "$DATA/$1.cpu" "$DATA/$1.regcpu" "$DATA/$1.ms" | awk '$3 > 0 { print ($1 + $2) / $3 }' | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
verdict() { awk -v v="$1" -v lim="$2" 'BEGIN { if (v == "-") print "-"; else print (v <= lim) ? "met" : "**NOT met**" }'; }
label_files() { awk -v n="$1" 'BEGIN { if (n >= 1000 && n % 1000 == 0) printf "%dk", n / 1000; else print n }'; }
label_size() { awk -v n="$1" 'BEGIN { if (n >= 1024) printf "%.1f GiB", n / 1024; else printf "%d MiB", n }'; }

report_noop() {
  local n prev='' h d gh gd
  echo "## No-op rebuild against the number of context files"
  echo
  echo "Context: N small files (64-1023 bytes) under data/, the scalegen Dockerfile (COPY data/, RUN, COPY app/, RUN), everything cached. Median of $RUNS interleaved runs, ms. Growth: the time at N over the time at the previous N, and in brackets the growth of N (linear growth would equal it)."
  echo
  echo "| files | hoist ms | docker ms | hoist/docker | hoist growth | docker growth | hoist peak RSS MB (largest process) |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for n in "${FILES[@]}"; do
    h=$(med "noop/files-$n/hoist" ms) d=$(med "noop/files-$n/docker" ms) gh='' gd=''
    if [[ -n $prev ]]; then
      gh="x$(div "$h" "$(med "noop/files-$prev/hoist" ms)") (x$(div "$n" "$prev" %.1f))"
      gd="x$(div "$d" "$(med "noop/files-$prev/docker" ms)") (x$(div "$n" "$prev" %.1f))"
    fi
    echo "| $(label_files "$n") | $h | $d | $(div "$h" "$d") | $gh | $gd | $(mb "$(maxv "noop/files-$n/hoist" rss)" 1024) |"
    prev=$n
  done
  local big=${FILES[-1]} mid=${FILES[-2]}
  local g r
  g=$(div "$(med "noop/files-$big/hoist" ms)" "$(med "noop/files-$mid/hoist" ms)")
  r=$(div "$(med "noop/files-$big/hoist" ms)" "$(med "noop/files-$big/docker" ms)")
  echo
  echo "- hoist grows at most linearly from $(label_files "$mid") to $(label_files "$big") files (x$g for x$(div "$big" "$mid" %.0f) files): $(verdict "$g" "$(div "$big" "$mid")")"
  echo "- hoist <= 0.2x docker at $(label_files "$big") files ($r): $(verdict "$r" 0.2)"
}

report_incremental() {
  local what s lo=${SIZES[0]} hi=${SIZES[-1]} hl hh dl dh
  echo "## Incremental rebuild against the size of the context"
  echo
  echo "Context: $(label_size "$lo") and $(label_size "$hi") under data/ in 1 MiB files (two thirds random bytes), the same Dockerfile. Median seconds of $RUNS interleaved runs at $(label_size "$lo") and $BIG_RUNS at $(label_size "$hi"); the rounds run the sizes in turn (the larger in $BIG_RUNS of them, spread out) and the tools in turn."
  echo
  echo "| what changed (steps rerun) | hoist $(label_size "$lo") | hoist $(label_size "$hi") | hoist growth | docker $(label_size "$lo") | docker $(label_size "$hi") | docker growth | hoist/docker at $(label_size "$hi") |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
  for what in data app; do
    hl=$(med "inc/$what/size-$lo/hoist" ms) hh=$(med "inc/$what/size-$hi/hoist" ms)
    dl=$(med "inc/$what/size-$lo/docker" ms) dh=$(med "inc/$what/size-$hi/docker" ms)
    local label="one file of data/ (COPY data/ + RUN)"
    [[ $what == app ]] && label="app/main.txt (COPY app/ + RUN)"
    echo "| $label | $(sec "$hl") | $(sec "$hh") | x$(div "$hh" "$hl") | $(sec "$dl") | $(sec "$dh") | x$(div "$dh" "$dl") | $(div "$hh" "$dh") |"
  done
  echo
  for what in data app; do
    local g
    g=$(div "$(med "inc/$what/size-$hi/hoist" ms)" "$(med "inc/$what/size-$lo/hoist" ms)")
    echo "- one changed file ($what) costs about the same in $(label_size "$hi") as in $(label_size "$lo") (hoist x$g; goal <= x1.2): $(verdict "$g" 1.2)"
  done
}

report_memory() {
  local s op k
  echo "## Cold build, push and pull against the size of the layer (peak memory)"
  echo
  echo "hoist only; $MEM_RUNS run(s) per size. Build: a fresh root with only the busybox base (nothing cached). Push: to a fresh docker-registry. Pull: into a fresh root. Peak tree MB: the highest sampled anon + mapped-file memory charged to the command's cgroup (all of hoist's processes, RUN steps included; the pages of the hoist binary already in the page cache are charged elsewhere and not in it), the maximum over the runs. Largest process: GNU time %M, the RSS of the largest single process including the binary's shared pages (max over the runs). cgroup max usage: memory.max_usage_in_bytes / memory.peak, which includes the page cache of what the command wrote. CPU: (user + sys) / wall of the command and its waited descendants (median)."
  echo
  echo "| operation | size | median s | CPU cores used | peak tree MB | largest process MB | cgroup max usage MB (incl. page cache) |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
  for op in build push pull; do
    for s in "${SIZES[@]}"; do
      k=mem/size-$s/$op
      echo "| $op | $(label_size "$s") | $(sec "$(med "$k" ms)") | $(cores "$k") | $(mb "$(maxv "$k" mem)") | $(mb "$(maxv "$k" rss)" 1024) | $(mb "$(maxv "$k" usage)") |"
    done
  done
  echo
  local lo=${SIZES[0]} hi=${SIZES[-1]} peak=0 v
  for op in build push pull; do
    echo "- $op: time x$(div "$(med "mem/size-$hi/$op" ms)" "$(med "mem/size-$lo/$op" ms)"), peak tree memory x$(div "$(maxv "mem/size-$hi/$op" mem)" "$(maxv "mem/size-$lo/$op" mem)") for x$(div "$hi" "$lo" %.1f) data"
    for s in "${SIZES[@]}"; do
      for v in "$(mb "$(maxv "mem/size-$s/$op" mem)")" "$(mb "$(maxv "mem/size-$s/$op" rss)" 1024)"; do
        [[ $v != - ]] && ((v > peak)) && peak=$v
      done
    done
  done
  echo "- peak memory of build, push and pull < 150 MB at every size (the higher of the tree's peak and the largest process, highest: $peak MB): $(verdict "$peak" 149)"
}

report_layers() {
  local n dir k h s
  echo "## Push and pull against the number of layers"
  echo
  echo "Images: busybox + N-1 COPY layers of $LAYER_KIB KiB random bytes (N layers). Every (round, N) uses a fresh docker-registry on a new loopback port. Push: hoist from its store, skopeo from an OCI layout of the same blobs (\`hoist save --format oci-archive\`, unpacked). Pull: of hoist's push, hoist into a fresh root, skopeo into an empty \`oci:\` dir. Median seconds of $RUNS runs, the tools alternating which goes first. Cores: (user + sys) / wall of the tool, and of the tool plus the registry process."
  echo
  echo "| layers | image MB | direction | hoist s | skopeo s | hoist/skopeo | hoist cores (+registry) | skopeo cores (+registry) | hoist peak MB tree / largest process | skopeo peak MB tree / largest process |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for n in "${LAYERS[@]}"; do
    for dir in push pull; do
      k=layers/$dir/$n
      h=$(med "$k/hoist" ms) s=$(med "$k/skopeo" ms)
      echo "| $n | $(mb "$(cat "$DATA/layers-$n.bytes" 2>/dev/null || echo -)") | $dir | $(sec "$h") | $(sec "$s") | $(div "$h" "$s") | $(cores "$k/hoist") ($(cores_reg "$k/hoist")) | $(cores "$k/skopeo") ($(cores_reg "$k/skopeo")) | $(mb "$(maxv "$k/hoist" mem)") / $(mb "$(maxv "$k/hoist" rss)" 1024) | $(mb "$(maxv "$k/skopeo" mem)") / $(mb "$(maxv "$k/skopeo" rss)" 1024) |"
    done
  done
  echo
  n=${LAYERS[-1]}
  for dir in push pull; do
    k=layers/$dir/$n
    local r
    r=$(div "$(med "$k/hoist" ms)" "$(med "$k/skopeo" ms)")
    echo "- $dir of $n layers within 1.2x of skopeo ($r): $(verdict "$r" 1.2); hoist uses $(cores "$k/hoist") cores itself, $(cores_reg "$k/hoist") with the registry, on $(nproc) CPUs"
  done
}

report_runs() {
  local f
  echo "## Every run"
  echo
  echo "Wall ms of every timed run, in order (warm-ups are untimed in the tables above but listed here)."
  echo
  echo '```'
  (cd "$DATA" && find . -name '*.ms' | sort) | while read -r f; do
    printf '%s: %s\n' "${f#./}" "$(tr '\n' ' ' <"$DATA/$f")"
  done
  echo '```'
}

report() {
  echo "# bench/scale.sh $(date -u +%FT%TZ)$([[ $QUICK == 1 ]] && echo ' (SCALE_QUICK=1: tiny sizes, not the benchmark)')"
  echo
  echo "- hoist: $TREE (tree at the start; binary ${HOIST:-bin/hoist})"
  echo "- docker: $("$DOCKER" version --format '{{.Server.Version}}' 2>/dev/null || echo '?') (BuildKit, $DOCKER); skopeo: $(skopeo --version 2>/dev/null | awk '{ print $3 }'); docker-registry: $(docker-registry --version 2>/dev/null | awk '{ print $3 }')"
  echo "- machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), cgroup v$CGV; load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- runs: BENCH_RUNS=$RUNS, SCALE_BIG_RUNS=$BIG_RUNS, SCALE_MEM_RUNS=$MEM_RUNS; scenarios: $SCENARIOS; the whole bench took $(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) / 60 }') min"
  echo
  want noop && { report_noop; echo; }
  want incremental && { report_incremental; echo; }
  want memory && { report_memory; echo; }
  want layers && { report_layers; echo; }
  report_runs
}

# ---------------------------------------------------------------------------- main
main() {
  preflight
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
  T_START_UTC=$(date -u +%Y-%m-%dT%H:%M:%S)
  awk -v l="${LOAD0%% *}" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }' &&
    say "WARNING: load average is $LOAD0 on $(nproc) CPUs: other work will make the numbers noisy"
  setup_scratch
  prepare_contexts
  want memory && scenario_memory
  want noop && scenario_noop
  want incremental && scenario_incremental
  want layers && scenario_layers
  stop_registry

  mkdir -p "$RESULTS"
  local name=scale
  [[ $QUICK == 1 ]] && name=scale-quick
  RESULT=$RESULTS/$name-$(date -u +%Y-%m-%d-%H%M%S).md
  report >"$RESULT.partial"
  mv "$RESULT.partial" "$RESULT"
  cat "$RESULT"
  say "results written to ${RESULT#"$REPO"/}"
}

# bash reads a script while it runs it: the braces make it read main and exit at once, so an edit of
# this file during a run does not change what the run does.
{
  main "$@"
  exit
}
