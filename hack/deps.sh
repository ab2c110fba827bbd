#!/usr/bin/env bash
# Installs what hoist's tests need on Debian (bookworm): busybox-static for the test base image,
# iproute2 and iptables for container bridge networking,
# docker-registry for the registry integration tests, and git for git URLs (remote build contexts,
# ADD of a git repository) and their tests (git daemon, git http-backend). Idempotent; a no-op when all is present.
set -euo pipefail
need=()
for p in busybox-static docker-registry git iproute2 iptables; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then echo "hack/deps.sh: need root to install ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian package starts its own registry on :5000 under systemd where systemd runs; the tests start
# their own instances on free loopback ports, so nothing else is needed here.
