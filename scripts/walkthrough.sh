#!/usr/bin/env bash
# The README's first command: sets everything up, builds, and walks through
# forkjournal on a fresh journal under the build tree (recreated each run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

bin=$PWD/build/bin
export FORKJOURNAL_DIR=$PWD/build/walkthrough/journal
rm -rf "$PWD/build/walkthrough"
mkdir -p "$PWD/build/walkthrough"

bold=$(tput bold 2>/dev/null || true)
plain=$(tput sgr0 2>/dev/null || true)
say() { printf '\n%s# %s%s\n' "$bold" "$*" "$plain"; }
run() {
  printf '%s$ forkjournal %s%s\n' "$bold" "$*" "$plain"
  local rc=0
  "$bin/forkjournal" "$@" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then printf '(exit %d)\n' "$rc"; fi
}

web=tpl0web0000000000000001
db=tpl0db00000000000000001
say "A journal is an LMDB directory: $FORKJOURNAL_DIR"
run init
say "A VM manager promotes two standby instances to templates..."
run register $web --source src0web0000000000000001 --name web
run register $db --source src0db00000000000000001 --name db
say "...and records each fork before creating it, each unfork after deleting it."
run fork $web frk0web0000000000000001
run fork $web frk0web0000000000000002
run fork $web frk0web0000000000000003
run fork $db frk0db00000000000000001
run unfork $web frk0web0000000000000002
say "Commands are validated against the replayed state: nothing is appended when refused."
run fork $web frk0web0000000000000001
run retire $db
run unfork $db frk0db00000000000000001
run retire $db
say "The counts are a projection rebuilt from the events:"
run counts
run log
say "explain shows why a count is what it is, event by event:"
run explain $web
say "A snapshot lets the next boot replay only the tail; replay checks it against a full replay."
run snapshot
run fork $web frk0web0000000000000004
run replay
say "Any earlier state can be asked for, here as JSON:"
run counts --as-of 5 --json
