#!/usr/bin/env bash
# The whole test suite: unit tests (swift test), the end-to-end spec suite against the real
# binary, and the real clients (Docker, skopeo, containerd, registry:2). Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh

echo "== format (swift format with .swift-format; fix with: swift format format -i -r Sources Tests)"
swift format lint --strict --recursive Sources Tests Package.swift

echo "== build"
swift build --build-tests

echo "== unit tests (the storage driver suite also runs against SeaweedFS, a real S3 server; Redis tests against redis-server)"
s3_dir="$(mktemp -d)"
trap 'python3 e2e/seaweed.py stop "$s3_dir"; rm -rf "$s3_dir"' EXIT
eval "$(python3 e2e/seaweed.py start "$s3_dir")"
BERTH_TEST_S3_REQUIRED=1 BERTH_TEST_REDIS_REQUIRED=1 swift test --skip-build
python3 e2e/seaweed.py stop "$s3_dir"

echo "== end-to-end tests (real berth binary, real clients)"
BERTH_BIN="$PWD/.build/debug/berth" python3 -m pytest -q -p no:cacheprovider e2e

echo "== the core API and client suites again, with Berth on S3 (SeaweedFS)"
BERTH_E2E_STORAGE=s3 BERTH_BIN="$PWD/.build/debug/berth" python3 -m pytest -q -p no:cacheprovider \
  e2e/test_uploads.py e2e/test_blobs.py e2e/test_manifests.py e2e/test_lists.py e2e/test_clients.py e2e/test_gc.py \
  -k "not registry2"

echo "== benchmark harness, smoke mode (tiny sizes, one round; the real run is bench/run)"
bench/run --smoke --berth-bin "$PWD/.build/debug/berth"
