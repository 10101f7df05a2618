#!/usr/bin/env bash
# go_client_ratio.sh BUILD_DIR [EVENTS] [ROUNDS]: group-commit throughput from
# the Go client (64 goroutines through forkjournald's socket) as a ratio to
# the C++ benchmark's (forkjournal-bench append's group_commit_eps, 64
# clients in process, median of 5), measured in one run: the two alternate ROUNDS times
# (default 3) with EVENTS forks each (default 5000), both in --sync full, and
# the ratio is of the two medians. Needs `go` (golang-go) and the build's
# forkjournald and forkjournal-bench. Prints a table; exit 1 when a run fails
# or reports no figure.
set -euo pipefail
build=$(realpath "${1:?usage: go_client_ratio.sh BUILD_DIR [EVENTS] [ROUNDS]}")
events=${2:-5000}
rounds=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
bench="$build/bin/forkjournal-bench"
daemon="$build/bin/forkjournald"
for f in "$bench" "$daemon"; do
  [[ -x $f ]] || { echo "go_client_ratio: $f is missing; build it first" >&2; exit 1; }
done
command -v go >/dev/null || { echo "go_client_ratio: go is missing (apt-get install golang-go)" >&2; exit 1; }

# Standard library only: nothing is downloaded.
export GOPROXY=off
work=$(mktemp -d "${TMPDIR:-/tmp}/go_client_ratio.XXXXXX")
trap 'rm -rf "$work"' EXIT

cpp=() go=()
for ((round = 1; round <= rounds; round++)); do
  echo "round $round/$rounds: C++ group commit" >&2
  "$bench" append --events 100 --durable-events "$events" --clients 64 --repetitions 5 --json \
    >"$work/cpp.json"
  cpp+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["figures"]["group_commit_eps"]["median"])' "$work/cpp.json")")
  echo "round $round/$rounds: Go client" >&2
  (cd "$here/../clients/go" &&
    FORKJOURNALD="$daemon" go test -run '^$' -bench 'GroupCommit64$' \
      -benchtime "${events}x" -count 1 ./...) >"$work/go.txt"
  figure=$(awk '/^BenchmarkGroupCommit64/ { for (i = 2; i <= NF; i++) if ($i == "events/s") print $(i-1) }' "$work/go.txt")
  [[ -n $figure ]] || { cat "$work/go.txt" >&2; echo "go_client_ratio: no events/s from the Go benchmark" >&2; exit 1; }
  go+=("$figure")
done

python3 - "${#cpp[@]}" "${cpp[@]}" "${go[@]}" <<'PY'
import statistics, sys
n = int(sys.argv[1])
cpp = [float(x) for x in sys.argv[2:2 + n]]
go = [float(x) for x in sys.argv[2 + n:]]
if min(cpp + go) <= 0:
    sys.exit("go_client_ratio: a run reported no throughput")
print("| | events/s per round | median |")
print("|---|---|---|")
print(f"| C++ group_commit_eps, 64 clients in process | {' / '.join(f'{x:,.0f}' for x in cpp)} | {statistics.median(cpp):,.0f} |")
print(f"| Go client, 64 goroutines through forkjournald | {' / '.join(f'{x:,.0f}' for x in go)} | {statistics.median(go):,.0f} |")
print(f"go_over_cpp {statistics.median(go) / statistics.median(cpp):.2f}")
PY
