#!/usr/bin/env bash
# Sets everything up and runs every test: a normal build, a clang build, an
# AddressSanitizer + UndefinedBehaviorSanitizer build, ThreadSanitizer for the
# threaded parts, short libFuzzer runs; proves a Release build compiles; and
# builds, lints, installs, upgrades and purges the Debian package (as root).
# These builds treat warnings as errors (FJ_WERROR); a user's build only warns.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

# Line tables are all a failure's stack trace needs; full debug information
# (variables, types) would make these builds a third slower.
relwithdebinfo_flags=-DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
debug_flags=-DCMAKE_CXX_FLAGS_DEBUG=-g1

# Runs a build's tests longest first, by the times the first build's run
# recorded: a long test started last would run alone at the end.
run_ctest() {
  local dir=$1
  shift
  if [ "$dir" != build ] && [ -f build/Testing/Temporary/CTestCostData.txt ]; then
    mkdir -p "$dir/Testing/Temporary"
    cp build/Testing/Temporary/CTestCostData.txt "$dir/Testing/Temporary/"
  fi
  ctest --test-dir "$dir" --output-on-failure -j2 "$@"
}

echo "== build (RelWithDebInfo) =="
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$relwithdebinfo_flags" -DFJ_WERROR=ON
echo "== tests (RelWithDebInfo) =="
run_ctest build

# The Go client against the daemon just built; standard library only, so no
# module is downloaded (GOPROXY=off), and Go's caches stay in the build tree.
echo "== Go client (go vet, go test -race against build/bin/forkjournald) =="
(cd clients/go &&
  export GOCACHE="${GOCACHE:-$PWD/../../build/go/cache}" GOPATH="${GOPATH:-$PWD/../../build/go/path}" \
    GOPROXY=off &&
  go vet ./... &&
  FORKJOURNALD="$PWD/../../build/bin/forkjournald" go test -race -count=1 ./...)
# One short round of the Go-over-C++ group-commit ratio, so the script cannot
# rot; its figures are judged on real runs (clients/go/README.md), never here.
echo "== Go client over C++ group commit (one short round) =="
GOCACHE="${GOCACHE:-$PWD/build/go/cache}" GOPATH="${GOPATH:-$PWD/build/go/path}" \
  bash bench/go_client_ratio.sh build 1000 1 | tee build/go_client_ratio.txt
grep -Eq '^go_over_cpp [0-9]+\.[0-9]+$' build/go_client_ratio.txt

echo "== embed example against an installed copy =="
rm -rf build/install build/embed
cmake --install build --prefix "$PWD/build/install" >/dev/null
cmake -S examples/embed -B build/embed -G Ninja -DCMAKE_PREFIX_PATH="$PWD/build/install" >/dev/null
cmake --build build/embed -j2
build/embed/embed build/embed/journal 2>/dev/null | tee build/embed/out.txt
grep -q "delete refused while forks live" build/embed/out.txt
echo "embed example: passed"

# Every standard build type must build for a user; Release (GCC 12 at -O3)
# is the one whose optimiser reports warnings the others do not. It is also
# the build the Debian package comes from (Debian's hardening flags, /usr);
# the package is tested below. It builds what the package ships: the tests
# and benchmarks, which ship in no package, were three fifths of its compile
# time, and the builds above and below compile them at -O2, -Os and -O0.
echo "== build (Release, warnings as errors: the Debian package) =="
deb=$(scripts/package.sh -DFJ_WERROR=ON)

# clang warns where GCC does not (and rejects code GCC accepts), so every
# target, tests and benchmarks included, is built with clang as well and the
# suite runs against it. clang's warnings come from its front end, not its
# optimiser: the build type quickest to compile (MinSizeRel, no debug
# information) proves them for the others.
echo "== build (clang, MinSizeRel, warnings as errors) =="
scripts/build.sh build-clang -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=MinSizeRel \
  -DFJ_WERROR=ON
# The NATS cluster tests (45 s) check how the shipper and a cluster behave
# together, which the GCC and ASan runs check; the shipper's clang build
# runs in every other shipping test.
echo "== tests (clang, MinSizeRel) =="
run_ctest build-clang -E '^Ship\.(Cluster|HundredThousandEvents)'

echo "== build (ASan+UBSan) =="
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug "$debug_flags" -DFJ_SANITIZE=address \
  -DFJ_BUILD_BENCH=OFF -DFJ_WERROR=ON
# The checks of the sources themselves (include layering, the public
# headers, [[nodiscard]]) run the same GCC as the first build, which ran them.
# The full-sync power-loss exploration (2,000 crash states, 90 s under
# ASan) checks a durability promise, which the GCC and clang runs check; the
# explorer's code runs under ASan in the shorter explorations.
echo "== tests (ASan+UBSan) =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  run_ctest build-asan \
  -E '^(Layering|PublicHeaders|NoDiscard)\.|^PowerLossExplorerTest\.FullSyncLosesNothingAcknowledged$'

# The service, the daemon, the scanner (it reads entries on threads), the
# shipper (beside the writer and libnats' threads), and the audit's and
# replay's second threads (hashing, reading ahead) are the multi-threaded
# parts: their tests run again under ThreadSanitizer (the daemon binary
# itself is instrumented).
echo "== build (TSan: service, daemon, scheduler, shipper, audit, replay) =="
# -O1, as ThreadSanitizer's documentation suggests: quicker to compile than
# -O2, and the assertions stay on.
scripts/build.sh build-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DFJ_SANITIZE=thread \
  -DFJ_BUILD_BENCH=OFF -DFJ_WERROR=ON --target daemon_test dispatch_test threads_test fleet_test \
  forkjournald forkjournal
echo "== tests (TSan) =="
TSAN_OPTIONS=halt_on_error=1 run_ctest build-tsan \
  -R 'DaemonTest|DispatchTest|ServicePeriodic|ReconcileScheduler|ScannerTest|MemoryScan|ReconcilerTest|Ship\.|FleetInit|AuditTest|ChainHasherTest|ReplayedJournal'

# Each libFuzzer target for a short fixed time (FUZZ_SECONDS each); the
# regressions it ever found also run in every build above.
echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:=10} s per target) =="
FUZZ_SECONDS=$FUZZ_SECONDS fuzz/run.sh

echo "== Debian package (build, lintian, install, upgrade, remove) =="
bash tests/package_test.sh "$deb"

echo "== test.sh: everything passed in $((SECONDS / 60)) min $((SECONDS % 60)) s =="
