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

echo "== unit tests"
swift test --skip-build

echo "== end-to-end tests (real berth binary, real clients)"
BERTH_BIN="$PWD/.build/debug/berth" python3 -m pytest -q -p no:cacheprovider e2e

echo "== benchmark harness, smoke mode (tiny sizes, one round; the real run is bench/run)"
bench/run --smoke --berth-bin "$PWD/.build/debug/berth"
