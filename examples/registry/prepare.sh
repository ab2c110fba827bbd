#!/bin/sh
# Copies Debian's docker-registry binary (apt-get install docker-registry) into rootfs/ next to this
# script, with the shared libraries it loads: bookworm's build links the C library dynamically, and
# the busybox base has none. The Dockerfile copies rootfs/ into the image. Run it again after an
# upgrade of the package. Usage: ./prepare.sh [BINARY]   (default /usr/bin/docker-registry)
set -eu
bin=${1:-/usr/bin/docker-registry}
cd "$(dirname "$0")"
if [ ! -x "$bin" ]; then
	echo "prepare.sh: $bin not found: apt-get install docker-registry" >&2
	exit 1
fi
rm -rf rootfs
mkdir -p rootfs/usr/bin
cp "$bin" rootfs/usr/bin/docker-registry
# ldd prints "name => /path (addr)" per library and "/path (addr)" for the dynamic loader; a static
# binary has no such lines ("not a dynamic executable") and needs nothing else.
for lib in $(ldd "$bin" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
	mkdir -p "rootfs$(dirname "$lib")"
	cp -L "$lib" "rootfs$lib"
done
find rootfs -type f | sort
