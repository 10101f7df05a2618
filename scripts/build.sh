#!/usr/bin/env bash
# build.sh DIR [cmake -D options...] [--target T...]: configures (once) and
# builds into DIR (all targets, or only the ones named after --target).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
options=()
while (($#)) && [ "$1" != "--target" ]; do
  options+=("$1")
  shift
done
if [ ! -f "$dir/build.ninja" ]; then
  cmake -S . -B "$dir" -G Ninja "${options[@]}" >/dev/null
fi
cmake --build "$dir" -j2 "$@"
