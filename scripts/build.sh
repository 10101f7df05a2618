#!/usr/bin/env bash
# build.sh DIR [cmake -D options...] [--target T...]: configures DIR with the
# options (again each time, so that options given later take effect; cmake
# keeps the rest of its cache) and builds into it (all targets, or only the
# ones named after --target).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1
shift
options=()
while (($#)) && [ "$1" != "--target" ]; do
  options+=("$1")
  shift
done
cmake -S . -B "$dir" -G Ninja "${options[@]}" >/dev/null
cmake --build "$dir" -j2 "$@"
