#!/usr/bin/env bash
# Sets everything up and runs every test: the whole suite against the build
# the Debian package is made from (GCC, Release, Debian's hardening flags) and
# against a clang build with AddressSanitizer + UndefinedBehaviorSanitizer,
# ThreadSanitizer for the threaded parts, short libFuzzer runs; then lints,
# installs, upgrades and purges the Debian package (as root).
# These builds treat warnings as errors (FJ_WERROR); a user's build only warns.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Line tables are all a failure's stack trace needs; full debug information
# (variables, types) would make the sanitizer builds a third slower.
debug_flags="-O1 -g1"

# Runs a build's tests longest first, by the times the first build's run
# recorded: a long test started last would run alone at the end. Three at a
# time on two cores: the tests wait on fsync, child processes and servers,
# so two kept only 1.6 cores busy, and three took 0.84 of the time.
run_ctest() {
  local dir=$1
  shift
  if [ "$dir" != build-package ] && [ -f build-package/Testing/Temporary/CTestCostData.txt ]; then
    mkdir -p "$dir/Testing/Temporary"
    cp build-package/Testing/Temporary/CTestCostData.txt "$dir/Testing/Temporary/"
  fi
  ctest --test-dir "$dir" --output-on-failure -j3 "$@"
}

# The suite runs first against the build the Debian package is made from:
# GCC 12 at Release (-O3, whose optimiser warns where -O2 does not) with
# Debian's hardening flags (scripts/package.sh), here with the tests and
# benchmarks as well. Every standard build type must build for a user; this
# one and the sanitizer builds below are the ones the test command proves.
echo "== build (GCC, Release with Debian's hardening flags, warnings as errors: the package's build) =="
deb=$(scripts/package.sh -DFJ_BUILD_TESTS=ON -DFJ_BUILD_BENCH=ON -DFJ_WERROR=ON)
echo "== tests (GCC, Release) =="
run_ctest build-package

# The Go client against the daemon just built; standard library only, so no
# module is downloaded (GOPROXY=off), and Go's caches stay in the build tree.
echo "== Go client (go vet, go test -race against build-package/bin/forkjournald) =="
(cd clients/go &&
  export GOCACHE="${GOCACHE:-$PWD/../../build-package/go/cache}" \
    GOPATH="${GOPATH:-$PWD/../../build-package/go/path}" GOPROXY=off &&
  go vet ./... &&
  FORKJOURNALD="$PWD/../../build-package/bin/forkjournald" go test -race -count=1 ./...)
# One short round of the Go-over-C++ group-commit ratio, so the script cannot
# rot; its figures are judged on real runs (clients/go/README.md), never here.
echo "== Go client over C++ group commit (one short round) =="
GOCACHE="${GOCACHE:-$PWD/build-package/go/cache}" GOPATH="${GOPATH:-$PWD/build-package/go/path}" \
  bash bench/go_client_ratio.sh build-package 1000 1 | tee build-package/go_client_ratio.txt
grep -Eq '^go_over_cpp [0-9]+\.[0-9]+$' build-package/go_client_ratio.txt

# The package's build installs under /usr; DESTDIR puts that copy under the
# build tree instead, where the example finds it.
echo "== embed example against an installed copy =="
rm -rf build-package/install build-package/embed
DESTDIR="$PWD/build-package/install" cmake --install build-package >/dev/null
cmake -S examples/embed -B build-package/embed -G Ninja \
  -DCMAKE_PREFIX_PATH="$PWD/build-package/install/usr" >/dev/null
cmake --build build-package/embed -j2
build-package/embed/embed build-package/embed/journal 2>/dev/null | tee build-package/embed/out.txt
grep -q "delete refused while forks live" build-package/embed/out.txt
echo "embed example: passed"

# clang warns where GCC does not (and rejects code GCC accepts), so every
# target, benchmarks included, is built with clang as well; the same build
# carries AddressSanitizer and UndefinedBehaviorSanitizer, whose checks
# clang's front end also adds. -O1, as AddressSanitizer's documentation
# suggests for speed; assertions stay on.
# Three long tests run only in the GCC run: the full-sync power-loss
# exploration (2,000 crash states, 90 s here; the explorer's code runs
# sanitized in the shorter explorations), the benchmark harness's smoke run
# (90 s here; it proves the harness runs, not the product) and the check
# that each public header compiles on its own (100 s here; it runs the
# compiler, none of the project's code).
echo "== build (clang, ASan+UBSan, warnings as errors) =="
scripts/build.sh build-asan -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="$debug_flags" -DFJ_SANITIZE=address -DFJ_WERROR=ON
echo "== tests (clang, ASan+UBSan) =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_ctest build-asan \
  -E '^(PowerLossExplorerTest\.FullSyncLosesNothingAcknowledged|bench_smoke|PublicHeaders\.StandAloneWithoutInternalsOrLmdb)$'

# The service, the daemon, the scanner (it reads entries on threads), the
# shipper (beside the writer and libnats' threads), and the audit's and
# replay's second threads (hashing, reading ahead) are the multi-threaded
# parts: their tests run again under ThreadSanitizer (the daemon binary
# itself is instrumented).
echo "== build (clang, TSan: service, daemon, scheduler, shipper, audit, replay) =="
# -O1, as ThreadSanitizer's documentation suggests: quicker to compile than
# -O2, and the assertions stay on. clang, which builds these targets in 0.6
# of GCC's time (its precompiled header for the tests helps).
scripts/build.sh build-tsan -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="$debug_flags" -DFJ_SANITIZE=thread -DFJ_BUILD_BENCH=OFF -DFJ_WERROR=ON \
  --target daemon_test dispatch_test threads_test fleet_test forkjournald forkjournal
echo "== tests (TSan) =="
TSAN_OPTIONS=halt_on_error=1 run_ctest build-tsan \
  -R 'DaemonTest|DispatchTest|ServicePeriodic|ReconcileScheduler|ScannerTest|MemoryScan|ReconcilerTest|Ship\.|NatsClose|FleetInit|AuditTest|ChainHasherTest|ReplayedJournal'

# Each libFuzzer target for a short fixed time (FUZZ_SECONDS each); the
# regressions it ever found also run in every build above.
echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:=10} s per target) =="
FUZZ_SECONDS=$FUZZ_SECONDS fuzz/run.sh

echo "== Debian package (lintian, install, upgrade, remove) =="
bash tests/package_test.sh "$deb"

echo "== test.sh: everything passed in $((SECONDS / 60)) min $((SECONDS % 60)) s =="
