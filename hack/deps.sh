#!/usr/bin/env bash
# Installs what hoist's tests need on Debian (bookworm); idempotent, a no-op when all is present:
#   busybox-static   the tests' base image (internal/testutil; the goldens pin its version)
#   iproute2 iptables  container bridge networking (run/network)
#   docker-registry  the registry integration tests (testutil.Registry starts its own instances)
#   docker.io        the interop oracle: dockerd 20.10 with BuildKit (escape suite, docker load/save)
#   podman runc      the reference for --privileged, which dockerd 20.10 cannot run on every host
#   git              git URLs (remote build contexts, ADD of a git repository) and their tests
#   openssh-client   git over ssh (ssh://, git@host:repo) and its tests (the server is in-process)
#   uidmap passt slirp4netns  rootless hoist (newuidmap/newgidmap, pasta, or slirp4netns where pasta is
#                    absent: the tests run both); the rootless tests also need the user hoistci with
#                    subordinate ids and a /dev/net/tun everyone may open (below)
#   fuse-overlayfs   the fuse-overlayfs storage driver (its tests force it; /dev/fuse 0666 below)
#   qemu-user-static binfmt-support  RUN and `run` for other architectures (multi-platform builds):
#                    the emulators registered with binfmt_misc (F flag); below, binfmt_misc is mounted
#                    and Debian's arm64 busybox-static is extracted for the tests' arm64 base image
#   skopeo           the oracle that reads an index hoist pushed (skopeo inspect --raw)
#   mmdebstrap arch-test dpkg-dev  the Debian sample's bases and apt repository (below): minbase
#                    bookworm roots for amd64 and arm64 (arch-test: mmdebstrap's check that arm64 runs
#                    here), GNU hello's .debs for both and their Packages index (dpkg-scanpackages)
# hack/services.sh then starts dockerd and loads busybox:latest into dockerd and podman.
# With HOIST_TEST_STRICT=1 a test that finds one of these missing fails (internal/testutil/prereq).
set -euo pipefail
need=()
for p in busybox-static docker-registry git openssh-client iproute2 iptables docker.io podman runc uidmap passt \
    slirp4netns fuse-overlayfs qemu-user-static binfmt-support mmdebstrap arch-test dpkg-dev skopeo; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then echo "hack/deps.sh: need root to install ${need[*]}" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d: where an init system runs, do not let the packages start their daemons (docker.io's
  # dockerd with its own bridge and iptables rules, docker-registry on :5000); services.sh starts what
  # the tests need.
  rc=/usr/sbin/policy-rc.d made=
  if [[ ! -e $rc ]]; then printf '#!/bin/sh\nexit 101\n' >"$rc"; chmod 0755 "$rc"; made=1; fi
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { [[ -z $made ]] || rm -f "$rc"; exit 1; }
  [[ -z $made ]] || rm -f "$rc"
fi

# The rootless tests' user (internal/testutil/prereq.RootlessUser): an ordinary account with one
# subordinate range of 65536 ids, as `useradd` gives by default on Debian.
if [[ $(id -u) == 0 ]]; then
  id hoistci >/dev/null 2>&1 || useradd --create-home --shell /bin/bash hoistci
  for f in /etc/subuid /etc/subgid; do
    grep -q '^hoistci:' "$f" 2>/dev/null || echo 'hoistci:200000:65536' >>"$f"
  done
  # and one whose range is too small for images (1000 ids): the rootless bad-environment test
  id hoistci-small >/dev/null 2>&1 || useradd --create-home --shell /bin/bash hoistci-small
  for f in /etc/subuid /etc/subgid; do # useradd may have given it a full range: replace it
    if ! grep -qx 'hoistci-small:300000:1000' "$f" || [[ $(grep -c '^hoistci-small:' "$f") != 1 ]]; then
      sed -i '/^hoistci-small:/d' "$f"
      echo 'hoistci-small:300000:1000' >>"$f"
    fi
  done
  # Debian's udev makes /dev/net/tun 0666; some VMs leave it 0600, which stops pasta.
  if [[ -c /dev/net/tun ]]; then chmod 0666 /dev/net/tun; fi
  # Likewise /dev/fuse (udev's rule is MODE="0666"): fuse-overlayfs of an ordinary user needs it.
  if [[ -c /dev/fuse ]]; then chmod 0666 /dev/fuse; fi
fi

# Multi-platform tests (internal/testutil/prereq.Arm64): binfmt_misc mounted with qemu's handlers
# registered (binfmt-support registers them when installed; again here for a machine where
# binfmt_misc was not mounted then), and Debian's arm64 busybox for the arm64 base image.
if [[ $(id -u) == 0 ]]; then
  bfm=/proc/sys/fs/binfmt_misc
  [[ -e $bfm/status ]] || mount -t binfmt_misc binfmt_misc "$bfm"
  [[ -e $bfm/qemu-aarch64 ]] || update-binfmts --enable qemu-aarch64
  bb=/usr/local/lib/hoist-test/linux-arm64/busybox
  if [[ ! -x $bb ]]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -qq busybox-static:arm64 && dpkg-deb -x busybox-static_*_arm64.deb x)
    install -D -m 0755 "$tmp/x/bin/busybox" "$bb"
    rm -rf "$tmp"
  fi
fi

# The Debian sample (cmd/hoist/platform_debian_test.go, prereq.Debian): a minbase Debian bookworm
# root for amd64 and arm64, made from Debian's mirror (Docker Hub is out of reach), and a flat apt
# repository of GNU hello for both architectures, which the test serves on loopback. Each is made
# once and kept (measured on 2 cores shared with other builds: 2.5-3.5 minutes for amd64, 7 for
# arm64, whose maintainer scripts run under qemu; nothing when present). Kept small as debian:bookworm-slim is: no man pages, locales or docs but
# the copyrights, merged /usr without the usrmerge package (its perl), no /dev nodes (a container
# gets its own), no apt lists or caches (mmdebstrap's cleanup). Written under a temporary name and
# renamed, so an interrupted run leaves nothing that counts as done.
if [[ $(id -u) == 0 ]]; then
  lib=/usr/local/lib/hoist-test
  for arch in amd64 arm64; do
    out=$lib/linux-$arch/debian-bookworm.tar.gz
    [[ -s $out ]] && continue
    mkdir -p "${out%/*}"
    rm -f "$out.partial.tar.gz"
    echo "hack/deps.sh: making $out with mmdebstrap (minutes; once)" >&2
    log=$(mktemp)
    mmdebstrap --quiet --variant=minbase --architectures="$arch" \
      --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr --skip=output/dev --dpkgopt=force-unsafe-io \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      bookworm "$out.partial.tar.gz" </dev/null >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log" "$out.partial.tar.gz"; exit 1; }
    rm -f "$log"
    mv "$out.partial.tar.gz" "$out"
  done
  repo=$lib/apt
  if [[ ! -s $repo/Packages ]]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
    tmp=$(mktemp -d)
    chmod 0755 "$tmp" && chown _apt "$tmp" # apt-get download fetches as _apt
    (cd "$tmp" && apt-get download -qq hello:amd64 hello:arm64 && dpkg-scanpackages --multiversion . /dev/null >Packages 2>/dev/null)
    chown -R root:root "$tmp"
    rm -rf "$repo" && mkdir -p "$lib" && mv "$tmp" "$repo"
  fi
fi
