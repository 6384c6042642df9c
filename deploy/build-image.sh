#!/usr/bin/env bash
# Builds Berth's container image with the local Docker engine (deploy/Dockerfile).
#
#   deploy/build-image.sh [BINARY] [TAG]
#
# BINARY defaults to .build/release/berth (build it first: the README's release command);
# TAG to berth:latest. The image is FROM scratch: the build context holds the binary, the
# shared C libraries `ldd` says it loads (glibc, libstdc++, zlib, libcrypt — the Swift runtime
# is linked in with --static-swift-stdlib), the host's CA bundle and the registry:2 default
# config, so nothing is fetched.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binary="${1:-$here/../.build/release/berth}"
tag="${2:-berth:latest}"
[ -x "$binary" ] || { echo "build-image: no berth binary at $binary" >&2; exit 1; }
bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$bundle" ] || { echo "build-image: no CA bundle at $bundle (apt-get install ca-certificates)" >&2; exit 1; }

context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
root="$context/rootfs"
mkdir -p "$root/bin" "$root/etc/docker/registry" "$root/etc/ssl/certs" "$root/var/lib/registry" "$root/tmp"
chmod 1777 "$root/tmp"
cp "$binary" "$root/bin/berth"
# registry:2's image has its binary at /bin/registry, and cron jobs run
# `docker exec <container> bin/registry garbage-collect /etc/docker/registry/config.yml`.
ln -s berth "$root/bin/registry"
cp "$here/image/config.yml" "$root/etc/docker/registry/config.yml"
cp "$bundle" "$root/etc/ssl/certs/ca-certificates.crt"
# Every library at the path the loader looks for it (symlinks resolved), and the loader.
for lib in $(ldd "$binary" | awk '$3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp "$here/Dockerfile" "$context/Dockerfile"
docker build -q -t "$tag" "$context"
