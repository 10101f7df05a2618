#!/usr/bin/env bash
# fuzz/run.sh [TARGET...]: builds the libFuzzer targets with clang in a build
# directory of their own and runs each for a short fixed time.
#
#   FUZZ_SECONDS    seconds per target (default 20)
#   FUZZ_JOBS       targets run at a time (default: the number of cores)
#   FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   FUZZ_CXX        compiler (default clang++-14)
#   TARGET          record snapshot metadata request replay (default: all)
#
# Each target runs on a scratch corpus, FUZZ_BUILD_DIR/fuzz-work/TARGET/corpus,
# seeded from fuzz/corpus/TARGET and fuzz/regressions/TARGET and kept between
# runs, so the checked-in corpus stays small. A crash, timeout, leak or
# out-of-memory input is copied to fuzz/regressions/TARGET/ (where
# tests/fuzz_regression_test.cc replays it in the normal test run) and the
# script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FUZZ_BUILD_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-$(nproc)}
cxx=${FUZZ_CXX:-clang++-14}
all=(record snapshot metadata request replay)
targets=("$@")
if ((${#targets[@]} == 0)); then targets=("${all[@]}"); fi

# Longest input worth trying per target.
max_len() {
  case $1 in
    record) echo 4300 ;;    # kMaxRecordSize is 4245
    snapshot) echo 8192 ;;  # a few dozen templates and forks
    metadata) echo 4096 ;;  # hypeman metadata files are a few hundred bytes
    request) echo 4096 ;;   # request lines are short (kMaxLine is 64 KiB)
    replay) echo 4097 ;;    # 1 + 2 bytes per event: up to 2048 events
    *) echo "fuzz/run.sh: unknown target $1 (known: ${all[*]})" >&2; exit 2 ;;
  esac
}
for t in "${targets[@]}"; do max_len "$t" >/dev/null; done

if ! command -v "$cxx" >/dev/null; then
  echo "fuzz/run.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2
  exit 2
fi

echo "== fuzz: build ($build, $cxx) =="
if [ ! -f "$build/build.ninja" ]; then
  # Every library is instrumented for coverage and built with ASan+UBSan;
  # tests and benchmarks are not needed here.
  cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFJ_SANITIZE=address -DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link \
    -DFJ_BUILD_TESTS=OFF -DFJ_BUILD_BENCH=OFF -DFJ_WERROR=ON >/dev/null
fi
if ! cmake --build "$build" --target help | grep '^fuzz_targets:' >/dev/null; then
  echo "fuzz/run.sh: $build has no fuzz targets: the root CMakeLists.txt must" \
    "add_subdirectory(fuzz) for Clang, and libFuzzer must be installed" >&2
  exit 2
fi
cmake --build "$build" -j2 --target fuzz_targets

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Runs target $1 for $seconds; its exit status goes to its work directory.
fuzz_one() {
  local t=$1 work="$build/fuzz-work/$1" extra=() status=0
  mkdir -p "$work/corpus" "$work/artifacts"
  rm -f "$work/artifacts"/* "$work/status"
  cp -n fuzz/corpus/"$t"/* "$work/corpus"/
  if [ -d "fuzz/regressions/$t" ]; then
    find "fuzz/regressions/$t" -maxdepth 1 -type f ! -name '.*' ! -name README.md \
      -exec cp -n {} "$work/corpus"/ \;
  fi
  case $t in metadata | request) extra=(-dict=fuzz/json.dict) ;; esac
  echo "== fuzz: $t ($seconds s, -max_len=$(max_len "$t")) =="
  "$build/bin/${t}_fuzzer" "$work/corpus" -max_total_time="$seconds" -max_len="$(max_len "$t")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "${extra[@]}" >"$work/log.txt" 2>&1 || status=$?
  echo "$status" >"$work/status"
}

# Each fuzzer is one process on one core: FUZZ_JOBS of them at a time.
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
  fuzz_one "$t" &
  running=$((running + 1))
done
wait

# The reports, one target after another.
failed=()
summary=()
for t in "${targets[@]}"; do
  work="$build/fuzz-work/$t"
  status=$(cat "$work/status" 2>/dev/null || echo "?")
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log.txt" | tail -1)
  shopt -s nullglob
  found=("$work"/artifacts/{crash,timeout,oom,leak}-*)
  shopt -u nullglob
  if [ "$status" != 0 ] || ((${#found[@]})); then
    mkdir -p "fuzz/regressions/$t"
    echo "fuzz: $t FAILED (exit $status); the report:" >&2
    report='^==[0-9]+==ERROR|fuzz check failed|runtime error|^SUMMARY'
    if grep -qE "$report" "$work/log.txt"; then
      grep -E -A25 "$report" "$work/log.txt" | head -60 >&2 || true
    else
      tail -40 "$work/log.txt" >&2
    fi
    for f in "${found[@]}"; do
      saved=""
      for old in "fuzz/regressions/$t"/*; do
        if cmp -s "$f" "$old"; then saved=$old; fi
      done
      if [ -n "$saved" ]; then
        echo "fuzz: $saved still fails (not fixed yet);" \
          "reproduce: $build/bin/${t}_fuzzer $saved" >&2
      else
        saved="fuzz/regressions/$t/$(basename "$f")"
        cp "$f" "$saved"
        echo "fuzz: saved $saved ($(stat -c %s "$f") bytes);" \
          "reproduce: $build/bin/${t}_fuzzer $saved" >&2
      fi
    done
    echo "fuzz: full log in $work/log.txt" >&2
    failed+=("$t")
    summary+=("$t: FAILED after ${runs:-?} runs")
  else
    summary+=("$t: ok, ${runs:-?} runs in $seconds s, corpus $(find "$work/corpus" -type f | wc -l) files")
  fi
done

echo "== fuzz: summary =="
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]}: the inputs are under fuzz/regressions/ (commit new ones)" >&2
  exit 1
fi
