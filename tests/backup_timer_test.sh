#!/usr/bin/env bash
# Runs the nightly backup script of docs/operations.md ("On a timer") as
# systemd would, against the built forkjournal, and checks what the page
# promises: a run leaves a directory with data.mdb and a .json beside it; a
# failed run leaves neither, also when the backup crashed and left a
# .partial; only finished backups count towards the 14 kept.
# Usage: backup_timer_test.sh OPERATIONS_MD BIN_DIR
# Prints one line per broken promise; exit 1 if any, 0 otherwise.
set -euo pipefail
doc=${1:?usage: backup_timer_test.sh OPERATIONS_MD BIN_DIR}
bin=${2:?usage: backup_timer_test.sh OPERATIONS_MD BIN_DIR}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bad=0
fail() {
  echo "FAIL: $*"
  bad=1
}

# The ExecStart= of the unit: its continuation lines joined, %% as systemd
# reads it, the backup directory moved into $tmp.
script=$(awk '/^ExecStart=\/bin\/sh -c /{on=1} on{print} on && /'"'"'$/{exit}' "$doc" |
  sed -e 's/^ExecStart=\/bin\/sh -c '"'"'//' -e 's/'"'"'$//' | sed -e ':a' -e '/\\$/{N;s/\\\n//;ba}' |
  sed -e 's/%%/%/g')
[[ -n $script ]] || { echo "FAIL: no ExecStart=/bin/sh -c '...' in $doc"; exit 1; }
if [[ $script == *'${'* ]]; then
  fail "the script holds \${...}, which systemd expands before the shell sees it"
fi

# Runs the script for the backup directory $1 and journal $2, with $bin
# first on PATH (or $3), as the unit does (UMask=0077).
run_timer() {
  local backups=$1 journal=$2 path=${3:-$bin}
  (umask 0077 && FORKJOURNAL_DIR=$journal PATH=$path:$PATH \
    sh -c "${script//\/var\/backups\/forkjournal/$backups}") >"$tmp/out" 2>&1
}
# The backup directories in $1, one a line ("NAME" or "NAME.json").
entries() { (cd "$1" && ls -1A); }

journal=$tmp/journal
"$bin/forkjournal" --journal "$journal" init >/dev/null
"$bin/forkjournal" --journal "$journal" register t1 --source s1 >/dev/null

# 1. A run: a directory holding data.mdb, and its .json.
b=$tmp/ok
mkdir "$b"
if ! run_timer "$b" "$journal"; then fail "a run into $b failed: $(cat "$tmp/out")"; fi
dir=$(cd "$b" && ls -1d *Z 2>/dev/null || true)
if [[ $(entries "$b" | wc -l) -ne 2 || -z $dir || ! -f $b/$dir/data.mdb ]]; then
  fail "a run left $(entries "$b" | tr '\n' ' ')instead of one directory and its .json"
elif ! grep -q '"head_seq":1,' "$b/$dir.json"; then
  fail "$dir.json holds $(cat "$b/$dir.json")"
fi

# 2. A run that fails (no journal): nothing left.
b=$tmp/no-journal
mkdir "$b"
if run_timer "$b" "$tmp/missing"; then fail "a run on a missing journal succeeded"; fi
[[ -z $(entries "$b") ]] || fail "a failed run left $(entries "$b" | tr '\n' ' ')"

# 3. A backup that crashes after it made its .partial (as a reader crashing
# in the copy would): the run fails and leaves nothing either.
b=$tmp/crashed
mkdir "$b" "$tmp/crashing"
cat >"$tmp/crashing/forkjournal" <<'CRASH'
#!/bin/sh
mkdir -p "$2/.partial" && echo partial >"$2/.partial/data.mdb" && kill -ABRT $$
CRASH
chmod +x "$tmp/crashing/forkjournal"
if run_timer "$b" "$journal" "$tmp/crashing"; then fail "a run whose backup crashed succeeded"; fi
[[ -z $(entries "$b") ]] || fail "a run whose backup crashed left $(entries "$b" | tr '\n' ' ')"

# 4. Fourteen finished backups, older than now, and a newer directory left
# by a run killed as a whole (.partial only): the next run keeps the newest
# fourteen finished ones, its own included, and leaves the leftover alone.
b=$tmp/prune
mkdir "$b"
for i in $(seq 10 23); do
  mkdir "$b/20200101T0000${i}Z"
  echo copy >"$b/20200101T0000${i}Z/data.mdb"
  echo '{}' >"$b/20200101T0000${i}Z.json"
done
mkdir -p "$b/20210101T000000Z/.partial"
if ! run_timer "$b" "$journal"; then fail "a run into $b failed: $(cat "$tmp/out")"; fi
[[ ! -e $b/20200101T000010Z && ! -e $b/20200101T000010Z.json ]] ||
  fail "the oldest finished backup was kept: $(entries "$b" | tr '\n' ' ')"
finished=$(cd "$b" && ls -1d *Z/data.mdb | wc -l)
[[ $finished -eq 14 ]] || fail "$finished finished backups kept, not 14: $(entries "$b" | tr '\n' ' ')"
[[ -d $b/20210101T000000Z/.partial ]] || fail "the leftover of a killed run was removed"

exit $bad
