#!/usr/bin/env bash
# audit_ratio.sh BUILD_DIR JOURNAL [ROUNDS]: `forkjournal audit` against a
# first-pass `forkjournal replay` of the same journal, as a user meets them:
# each a fresh process, alternating ROUNDS times (default 7) after one untimed
# audit that warms the page cache. Replay's rate is the one it prints (its
# first replay from seq 1, without opening the journal); the audit's is the
# head seq over the wall time of the whole command, opening included, and its
# CPU time (user + system, every thread) is shown beside it. Prints each
# round and the medians; exit 1 when a command fails or the audit has
# findings.
set -euo pipefail
build=$(realpath "${1:?usage: audit_ratio.sh BUILD_DIR JOURNAL [ROUNDS]}")
journal=${2:?usage: audit_ratio.sh BUILD_DIR JOURNAL [ROUNDS]}
rounds=${3:-7}
cli="$build/bin/forkjournal"
[[ -x $cli ]] || { echo "audit_ratio: $cli is missing; build it first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/audit_ratio.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$cli" --journal "$journal" audit --json >"$work/warm.json" ||
  { echo "audit_ratio: the warm-up audit failed or found something" >&2; exit 1; }
for ((round = 1; round <= rounds; round++)); do
  "$cli" --journal "$journal" replay --json >"$work/replay.$round.json"
  start=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/time.$round" \
    "$cli" --journal "$journal" audit --json >"$work/audit.$round.json" ||
    { echo "audit_ratio: audit round $round failed or found something" >&2; exit 1; }
  echo "$start $(date +%s.%N)" >"$work/wall.$round"
done

python3 - "$work" "$rounds" <<'EOF'
import json, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
replay, audit, audit_cpu, ratio = [], [], [], []
print(f"{'round':>5} {'replay M/s':>11} {'audit M/s':>10} {'audit CPU M/s':>14} {'audit/replay':>13}")
for r in range(1, rounds + 1):
    rep = json.load(open(f"{work}/replay.{r}.json"))
    aud = json.load(open(f"{work}/audit.{r}.json"))
    start, end = map(float, open(f"{work}/wall.{r}").read().split())
    user, system = map(float, open(f"{work}/time.{r}").read().split())
    wall = end - start
    if not aud["ok"]:
        sys.exit(f"round {r}: the audit has findings")
    replay.append(rep["events_per_second"] / 1e6)
    audit.append(aud["head_seq"] / wall / 1e6)
    audit_cpu.append(aud["head_seq"] / (user + system) / 1e6)
    ratio.append(audit[-1] / replay[-1])
    print(f"{r:>5} {replay[-1]:>11.2f} {audit[-1]:>10.2f} {audit_cpu[-1]:>14.2f} {ratio[-1]:>13.3f}")
m = statistics.median
print(f"{'median':>5} {m(replay):>11.2f} {m(audit):>10.2f} {m(audit_cpu):>14.2f} {m(ratio):>13.3f}")
EOF
