#!/usr/bin/env bash
# Starts what hoist's tests need running, after hack/deps.sh installed it; idempotent (make test and
# .ci/run call it every time) and local only (nothing is pulled from a network):
#   * dockerd, when nothing answers on /var/run/docker.sock (a running one, e.g. shared/refenv's, is
#     used as it is): --iptables=false --bridge=none like refenv, log /var/log/hoist-test/dockerd.log,
#     pid in /run/hoist-test/dockerd.pid; waits until it answers.
#   * busybox:latest in dockerd, and docker.io/library/busybox:latest in podman, when missing: made
#     from the host's /bin/busybox by hack/mkbusybox (the tests' own base, internal/testutil) and
#     imported with refenv's config (ENV PATH, CMD ["sh"]).
# As a user other than root it only says what it cannot do: the tests that need these then skip, or
# fail with HOIST_TEST_STRICT=1.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "hack/services.sh: $*" >&2; }
if [[ $(id -u) != 0 ]]; then say "not root: starting nothing"; exit 0; fi

state=/run/hoist-test logdir=/var/log/hoist-test
mkdir -p "$state" "$logdir"
exec 9>"$state/services.lock"
flock 9 # two test runs at once: one starts dockerd, the other waits for it

docker_up() { timeout 20 docker info >/dev/null 2>&1; }
if ! docker_up; then
  say "starting dockerd (log $logdir/dockerd.log)"
  setsid nohup /usr/sbin/dockerd --iptables=false --bridge=none >>"$logdir/dockerd.log" 2>&1 </dev/null &
  echo $! >"$state/dockerd.pid"
  for _ in $(seq 1 600); do docker_up && break; sleep 0.1; done
  docker_up || { tail -n 30 "$logdir/dockerd.log" >&2; say "dockerd did not start"; exit 1; }
fi

changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["sh"]')
docker_import= podman_import=
docker image inspect busybox:latest >/dev/null 2>&1 || docker_import=1
if command -v podman >/dev/null && ! podman image exists docker.io/library/busybox:latest; then podman_import=1; fi
if [[ -n $docker_import$podman_import ]]; then
  image_tar=$(mktemp "$state/busybox.XXXXXX.tar")
  trap 'rm -f "$image_tar"' EXIT
  go run ./hack/mkbusybox /bin/busybox >"$image_tar"
fi
if [[ -n $docker_import ]]; then
  say "docker import busybox:latest (from /bin/busybox)"
  docker import "${changes[@]}" --message "hoist hack/services.sh busybox:latest" "$image_tar" busybox:latest >/dev/null
fi
if [[ -n $podman_import ]]; then
  say "podman import docker.io/library/busybox:latest (from /bin/busybox)"
  podman import -q "${changes[@]}" --message "hoist hack/services.sh busybox:latest" "$image_tar" docker.io/library/busybox:latest >/dev/null
fi
