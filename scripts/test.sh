#!/usr/bin/env bash
# Sets everything up and runs every test twice: a normal build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

echo "== build (RelWithDebInfo) =="
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== tests (RelWithDebInfo) =="
ctest --test-dir build --output-on-failure -j2

echo "== build (ASan+UBSan) =="
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DFJ_SANITIZE=ON
echo "== tests (ASan+UBSan) =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j2
