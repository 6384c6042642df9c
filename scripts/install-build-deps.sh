#!/usr/bin/env bash
# What building Berth needs beyond the Swift toolchain: OpenSSL's headers (libssl-dev), for the
# SHA-256 whose state can be saved (Sources/CLibcrypto). Idempotent; needs root when something
# is missing.
set -euo pipefail

if [ ! -e /usr/include/openssl/sha.h ]; then
  echo "installing: libssl-dev"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libssl-dev >/dev/null
fi
