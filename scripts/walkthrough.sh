#!/usr/bin/env bash
# The README's first command: sets everything up, builds, and walks through
# forkjournal on a fresh journal under the build tree (recreated each run) and
# a copy of the sample VM-manager data root in tests/fixtures/hypeman-sample.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

bin=$PWD/build/bin
work=$PWD/build/walkthrough
export FORKJOURNAL_DIR=$work/journal
root=$work/data-root
rm -rf "$work"
mkdir -p "$work"

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
ci=tpl0ci00000000000000001
say "A journal is an LMDB directory: $FORKJOURNAL_DIR"
run init
say "A VM manager promotes standby instances to templates..."
run register $web --source src0web0000000000000001 --name web
run register $db --source src0db00000000000000001 --name db
run register $ci --source src0ci00000000000000001 --name ci
say "...records each fork before creating it, and each unfork after deleting it."
run fork $web frk0web0000000000000001
run fork $web frk0web0000000000000002
run fork $web frk0web0000000000000003
run fork $ci frk0ci00000000000000001
run fork $db frk0db00000000000000001
say "Commands are checked against the replayed state; a refused one appends nothing."
run fork $web frk0web0000000000000001
run retire $db
run unfork $db frk0db00000000000000001
say "The counts are a projection rebuilt from the events; explain shows why, event by event."
run counts
run explain $web
say "A snapshot lets the next start replay only the tail; replay checks it against seq 1."
run snapshot
run fork $web frk0web0000000000000004
run unfork $web frk0web0000000000000004
run replay
run counts --as-of 6 --json

say "Drift: the data root (a copy of tests/fixtures/hypeman-sample) disagrees with the journal."
cp -r tests/fixtures/hypeman-sample "$root"
rm -r "$root/guests/frk0web0000000000000002"
echo "  guests/frk0web...2 was deleted by hand; frk0web...3/metadata.json is torn mid-write;"
echo "  ins0empty.../metadata.json is empty; the sources of db and ci are gone, ci still has a fork."
say "frk0web...2 was recorded seconds ago: the VM manager may still be making its directory,
# so within the grace (--fork-grace, 10 minutes) a reconcile keeps it pending, not lost:"
run reconcile --data-root "$root" --dry-run
say "Past the grace (here --fork-grace 0: at once) it is lost. reconcile appends corrections
# and never edits state; an unreadable fork stays live, and
# while unreadable entries with no memory file may be any template's fork, no orphan is swept:"
run reconcile --data-root "$root" --fork-grace 0
say "The VM manager rewrites the torn metadata and removes the empty instance; db is now sweepable:"
sed 's/frk0web0000000000000001/frk0web0000000000000003/g; s/"web-1"/"web-3"/' \
  "$root/guests/frk0web0000000000000001/metadata.json" >"$root/guests/frk0web0000000000000003/metadata.json"
rm -r "$root/guests/ins0empty00000000000001"
run reconcile --data-root "$root"
say "A second run finds nothing left to correct (ci is kept: its live fork needs it):"
run reconcile --data-root "$root" --json
run explain $web

say "The memory file is the stronger evidence: a fork's snapshots/snapshot-latest/memory
# links its template source's (a symlink, or a hardlink in the newer layout)."
mem() { echo "$root/guests/$1/snapshots/snapshot-latest"; }
mkdir -p "$(mem src0web0000000000000001)" "$(mem frk0web0000000000000001)" "$(mem frk0web0000000000000003)"
head -c 4096 /dev/zero >"$(mem src0web0000000000000001)/memory"
ln -s "$(mem src0web0000000000000001)/memory" "$(mem frk0web0000000000000001)/memory"
ln -s "$(mem src0web0000000000000001)/memory" "$(mem frk0web0000000000000003)/memory"
printf '{"Id": "frk0web0000000000000003", "Fork' >"$root/guests/frk0web0000000000000003/metadata.json"
echo "  frk0web...1 and frk0web...3 now symlink src0web...1's memory; frk0web...3/metadata.json is torn again."
say "A torn fork is kept, and its memory link proves it is web's:"
run reconcile --data-root "$root"

leak=ins0leak00000000000001
qa=tpl0qa00000000000000001
run register $qa --source src0qa00000000000000001 --name qa
mkdir -p "$root/guests/$leak/snapshots"
echo "  guests/$leak has no metadata.json (a delete that died part-way); qa's source is gone."
say "A leftover directory no longer stops the sweep: qa is retired, the leftover is reported:"
run reconcile --data-root "$root"

torn=ins0torn00000000000001
mkdir -p "$(mem $torn)"
printf '{' >"$root/guests/$torn/metadata.json"
ln "$(mem src0web0000000000000001)/memory" "$(mem $torn)/memory"
echo "  guests/$torn: metadata torn, memory a hardlink of src0web...1's; the journal never heard of it."
say "An instance the journal lacks, whose metadata is torn, is recovered by its link:"
run reconcile --data-root "$root"
run counts

say "A running deployment without a journal bootstraps one with import:"
run --journal "$work/imported" init
run --journal "$work/imported" import --data-root "$root"
run --journal "$work/imported" counts
