#!/usr/bin/env bash
# bench_smoke_test.sh BENCH MICROBENCH: runs every forkjournal-bench command
# and the micro-benchmarks at a tiny size, so the harness cannot rot. Checks
# that each JSON report has the expected figures with positive values, that
# the table output works, that a missing gnuplot is a clear error, and that
# nothing is left behind in $TMPDIR. Timings are not checked: the bars are
# judged on real runs (bench/README.md), never in a test.
set -euo pipefail
bench=$1
micro=$2

work=$(mktemp -d "${TMPDIR:-/tmp}/bench_smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/tmp"
export TMPDIR="$work/tmp"

fail() {
  echo "bench_smoke_test: $*" >&2
  exit 1
}

# check_json FILE KEY... : every figure KEY has positive median/min/max.
check_json() {
  python3 - "$@" <<'EOF'
import json, sys
path, keys = sys.argv[1], sys.argv[2:]
report = json.load(open(path))
def check_figures(figures, where):
    for key in keys:
        if key not in figures:
            sys.exit(f"{where}: figure {key} missing")
        f = figures[key]
        for part in ("median", "min", "max"):
            if not (isinstance(f.get(part), (int, float)) and f[part] > 0):
                sys.exit(f"{where}: {key}.{part} is not a positive number: {f.get(part)}")
        if f.get("repetitions", 0) < 1:
            sys.exit(f"{where}: {key} has no repetitions")
for member in ("command", "commit", "date", "machine", "parameters", "figures", "ratios", "bars"):
    if member not in report:
        sys.exit(f"{path}: member {member} missing")
if not (isinstance(report["commit"], str) and report["commit"]):
    sys.exit(f"{path}: commit is not a non-empty string: {report['commit']}")
if report["command"] == "scaling":
    points = report["points"]
    if len(points) != 3:
        sys.exit(f"{path}: {len(points)} points, want 3")
    for p in points:
        check_figures(p["figures"], f"{path} point {p['events']}")
else:
    check_figures(report["figures"], path)
for bar in report["bars"]:
    if not isinstance(bar.get("pass"), bool):
        sys.exit(f"{path}: bar {bar.get('name')} has no verdict")
EOF
}

sizes=(--templates 5 --live-forks 50)

echo "== replay"
"$bench" replay --events 2000 "${sizes[@]}" --json >"$work/replay.json" 2>"$work/replay.err" ||
  fail "replay failed: $(cat "$work/replay.err")"
check_json "$work/replay.json" lmdb_scan_eps replay_eps sqlite_replay_eps replay_cold_eps \
  full_replay_seconds snapshot_boot_seconds rss_anon_mb bytes_per_event replay_first_eps \
  lmdb_scan_first_eps sqlite_replay_first_eps audit_first_eps lmdb_scan_cold_eps \
  sqlite_replay_cold_eps memory_load_4mib_ns memory_load_16mib_ns
# The shapes: growing with small explicit sizes, soak with its own defaults.
"$bench" replay --events 3000 --shape growing --templates 20 --live-forks 400 --json \
  >"$work/growing.json" 2>"$work/growing.err" ||
  fail "replay --shape growing failed: $(cat "$work/growing.err")"
check_json "$work/growing.json" replay_first_eps audit_first_eps replay_cold_eps replay_eps
"$bench" replay --events 3000 --shape soak --json >"$work/soak.json" 2>"$work/soak.err" ||
  fail "replay --shape soak failed: $(cat "$work/soak.err")"
check_json "$work/soak.json" replay_first_eps lmdb_scan_first_eps replay_eps
python3 - "$work/growing.json" "$work/soak.json" <<'EOF'
import json, sys
growing, soak = (json.load(open(p))["parameters"] for p in sys.argv[1:])
# soak's 20,000 templates do not fit 3,000 events: one per event, said in a note.
want = [(growing, "growing", 20, 400), (soak, "soak", 3000, 65000)]
for params, shape, templates, live in want:
    got = (params["shape"], params["templates"], params["live_forks"])
    if got != (shape, templates, live):
        sys.exit(f"replay --shape {shape}: parameters {got}, want {(shape, templates, live)}")
EOF
"$bench" replay --events 500 --shape flat >/dev/null 2>&1 && fail "replay accepted --shape flat"
"$bench" replay --events 500 --shape 1 >/dev/null 2>&1 && fail "replay accepted --shape 1"
grep -q "templates, one registered per event" "$work/soak.json" || fail "soak: no note of its templates"
"$bench" replay --events 500 "${sizes[@]}" >"$work/replay.txt" 2>/dev/null
grep -q "replay_eps" "$work/replay.txt" || fail "replay table lacks replay_eps"

echo "== append"
"$bench" append --events 2000 --durable-events 20 --clients 4 "${sizes[@]}" --json \
  >"$work/append.json" 2>"$work/append.err" || fail "append failed: $(cat "$work/append.err")"
check_json "$work/append.json" batch_append_eps durable_single_eps registry_file_eps \
  group_commit_eps group_commit_events_per_commit group_commit_cpu_us_per_event durable_single_us
"$bench" append --events 500 --durable-events 5 --clients 2 "${sizes[@]}" >"$work/append.txt" \
  2>/dev/null
grep -q "group_commit_eps" "$work/append.txt" || fail "append table lacks group_commit_eps"

echo "== scaling"
if command -v gnuplot >/dev/null; then
  "$bench" scaling --max-events 10000 "${sizes[@]}" --plot "$work/scaling.png" --json \
    >"$work/scaling.json" 2>"$work/scaling.err" || fail "scaling failed: $(cat "$work/scaling.err")"
  head -c 8 "$work/scaling.png" | od -An -tx1 | grep -q "89 50 4e 47" || fail "no PNG written"
else
  echo "gnuplot not installed: scaling runs without --plot"
  "$bench" scaling --max-events 10000 "${sizes[@]}" --json >"$work/scaling.json" 2>/dev/null
fi
check_json "$work/scaling.json" forkjournal_seconds sqlite_seconds lmdb_scan_seconds rss_anon_mb
"$bench" scaling --max-events 10000 "${sizes[@]}" >"$work/scaling.txt" 2>/dev/null
grep -q "lmdb_scan" "$work/scaling.txt" || fail "scaling table lacks lmdb_scan"

echo "== scaling --plot without gnuplot is a clear error"
mkdir "$work/empty-path"
status=0
PATH="$work/empty-path" "$bench" scaling --max-events 10000 --plot "$work/x.png" \
  >/dev/null 2>"$work/nognuplot.err" || status=$?
[ "$status" = 2 ] || fail "scaling --plot without gnuplot exited $status, want 2"
grep -q "needs gnuplot" "$work/nognuplot.err" || fail "unclear error: $(cat "$work/nognuplot.err")"

if command -v gnuplot >/dev/null; then
  echo "== scaling --plot failing after the measuring: the report, then one line"
  # A directory that vanishes while measuring: gnuplot cannot open the file.
  mkdir "$work/plot-dir"
  status=0
  "$bench" scaling --max-events 10000 "${sizes[@]}" --plot "$work/plot-dir/s.png" \
    >"$work/lateplot.txt" 2>"$work/lateplot.err" &
  pid=$!
  for _ in $(seq 100); do
    [ -n "$(find "$TMPDIR" -maxdepth 1 -name 'forkjournal-bench-corpus.*' | head -1)" ] && break
    sleep 0.05
  done
  rmdir "$work/plot-dir"
  wait $pid || status=$?
  [ "$status" = 2 ] || fail "scaling with a late plot failure exited $status, want 2"
  grep -q "lmdb_scan" "$work/lateplot.txt" || fail "late plot failure: no report printed"
  last=$(tail -1 "$work/lateplot.err")
  [[ $last == "forkjournal-bench: scaling --plot $work/plot-dir/s.png: gnuplot scaling.gp failed (exit status "[1-9]*"): "*"cannot open file"* ]] ||
    fail "late plot failure: $(cat "$work/lateplot.err")"
  [ "$(grep -cv '^\[forkjournal-bench' "$work/lateplot.err")" = 1 ] ||
    fail "late plot failure: more than one line besides progress: $(cat "$work/lateplot.err")"
fi

echo "== scan"
"$bench" scan --instances 2000 --templates 5 --repetitions 5 --json >"$work/scan.json" \
  2>"$work/scan.err" || fail "scan failed: $(cat "$work/scan.err")"
check_json "$work/scan.json" scan_warm_s scan_warm_instances_per_s scan_warm_1_thread_s plan_s \
  build_root_s
python3 - "$work/scan.json" <<'EOF'
import json, sys
path = sys.argv[1]
report = json.load(open(path))
def fail(message):
    sys.exit(f"{path}: {message}")
p, found, cold = report["parameters"], report["scan"], report["cold_cache"]
if p["instances"] != 2000 or p["templates"] != 5 or p["links"] != "symlink" or p["threads"] < 2:
    fail(f"parameters {p}")
if p["forks"] + p["plain"] + p["templates"] != p["instances"] or p["plain"] == 0:
    fail(f"forks, plain and templates do not add up: {p}")
want = {"present": 2000, "instances": 2000, "unreadable": 0, "templates": 5,
        "forks": p["forks"], "template_sources": 5}
for key, value in want.items():
    if found.get(key) != value:
        fail(f"scan found {key} = {found.get(key)}, want {value}")
figures, ratio = report["figures"], report["ratios"]["scan_cold_s / scan_warm_s"]
if not report["ratios"]["scan_warm_1_thread_s / scan_warm_s"] > 0:
    fail(f"ratios {report['ratios']}")
for key in ("scan_cold_s", "scan_cold_instances_per_s", "scan_cold_1_thread_s"):
    if key not in figures:
        fail(f"figure {key} missing")
    f = figures[key]
    if cold["available"]:
        if not (isinstance(f, dict) and f["median"] > 0 and f["repetitions"] == 5):
            fail(f"{key} is {f} with the cold cache available")
    elif f is not None:
        fail(f"{key} is {f}, want null without drop_caches ({cold['error']})")
if cold["available"] != isinstance(ratio, (int, float)):
    fail(f"cold/warm ratio {ratio} with cold available = {cold['available']}")
EOF
"$bench" scan --instances 300 --templates 3 --links hardlink --repetitions 5 >"$work/scan.txt" \
  2>/dev/null || fail "scan --links hardlink failed"
grep -Eq "^scan_warm_s +[0-9]" "$work/scan.txt" || fail "scan table lacks scan_warm_s"
grep -Eq "^scan_cold_s +([0-9]|n/a \(needs root\))" "$work/scan.txt" ||
  fail "scan table lacks scan_cold_s"
grep -q "every scan found 300 entries under guests/, 300 instances" "$work/scan.txt" ||
  fail "scan table: $(grep "every scan" "$work/scan.txt")"

echo "== size"
"$bench" size --events 3000 --per-commit 16 "${sizes[@]}" --json >"$work/size.json" \
  2>"$work/size.err" || fail "size failed: $(cat "$work/size.err")"
check_json "$work/size.json" bytes_per_event_no_ids bytes_per_event_ids_window \
  bytes_per_event_ids_unbounded bytes_per_event_sqlite compact_bytes_per_event_no_ids
"$bench" size --events 500 "${sizes[@]}" >"$work/size.txt" 2>/dev/null
grep -q "request_order" "$work/size.txt" || fail "size table lacks the request_order database"

echo "== ship"
if ! command -v nats-server >/dev/null; then
  export PATH="$PATH:/usr/sbin"
fi
"$bench" ship --events 300 --group-events 40 --clients 4 "${sizes[@]}" --json >"$work/ship.json" \
  2>"$work/ship.err" || fail "ship failed: $(cat "$work/ship.err")"
check_json "$work/ship.json" ship_eps catch_up_seconds group_commit_ship_off_eps \
  group_commit_ship_on_eps
python3 - "$work/ship.json" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
ratio = report["ratios"].get("ship_on_over_off")
if not (isinstance(ratio, (int, float)) and ratio > 0):
    sys.exit(f"{sys.argv[1]}: ship_on_over_off is {ratio}")
if not any(b["name"].startswith("ship_on_over_off") for b in report["bars"]):
    sys.exit(f"{sys.argv[1]}: no ship_on_over_off bar")
EOF
"$bench" ship --events 100 --group-events 10 --clients 2 "${sizes[@]}" >"$work/ship.txt" 2>/dev/null
grep -q "ship_on_over_off" "$work/ship.txt" || fail "ship table lacks ship_on_over_off"

echo "== ship without nats-server is a clear error"
status=0
PATH="$work/empty-path" "$bench" ship --events 100 >/dev/null 2>"$work/nonats.err" || status=$?
[ "$status" = 2 ] || fail "ship without nats-server exited $status, want 2"
grep -q "needs nats-server on PATH" "$work/nonats.err" || fail "unclear error: $(cat "$work/nonats.err")"

echo "== usage errors"
status=0
"$bench" replay --events 10 >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "replay --events 10 exited $status, want 2"
status=0
"$bench" scan --instances 10 --templates 20 >/dev/null 2>&1 || status=$?
[ "$status" = 2 ] || fail "scan --instances 10 --templates 20 exited $status, want 2"

echo "== SIGINT and SIGTERM remove the temporary directories"
# stop_when_started SIGNAL PATTERN COMMAND...: runs COMMAND, sends SIGNAL once
# a temporary directory matching PATTERN exists, returns its exit status.
stop_when_started() {
  local signal=$1 pattern=$2
  shift 2
  "$@" >/dev/null 2>"$work/stopped.err" &
  local pid=$! status=0
  for _ in $(seq 400); do
    [ -n "$(find "$TMPDIR" -maxdepth 2 -path "$pattern" | head -1)" ] && break
    sleep 0.05
  done
  kill "-$signal" $pid
  wait $pid || status=$?
  echo $status
}
status=$(stop_when_started INT "$TMPDIR/forkjournal-bench-corpus.*" "$bench" replay --events 3000000)
[ "$status" = 130 ] || fail "replay stopped by SIGINT exited $status, want 130: $(cat "$work/stopped.err")"
leftover=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 | head -5)
[ -z "$leftover" ] || fail "SIGINT left behind: $leftover"
status=$(stop_when_started TERM "$TMPDIR/forkjournal-bench-nats.*/server.log" \
  "$bench" ship --events 3000000 "${sizes[@]}")
[ "$status" = 143 ] || fail "ship stopped by SIGTERM exited $status, want 143: $(cat "$work/stopped.err")"
leftover=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 | head -5)
[ -z "$leftover" ] || fail "SIGTERM of ship left behind: $leftover"
pgrep -f -- "-sd $TMPDIR/" >/dev/null && fail "SIGTERM of ship left its nats-server running"
# SIGKILL runs nothing of ours: the kernel stops nats-server (PR_SET_PDEATHSIG).
status=$(stop_when_started KILL "$TMPDIR/forkjournal-bench-nats.*/server.log" \
  "$bench" ship --events 3000000 "${sizes[@]}")
for _ in $(seq 100); do
  pgrep -f -- "-sd $TMPDIR/" >/dev/null || break
  sleep 0.1
done
pgrep -f -- "-sd $TMPDIR/" >/dev/null && fail "SIGKILL of ship left its nats-server running"
rm -rf "${TMPDIR:?}"/*

echo "== temporary directories are removed"
leftover=$(find "$TMPDIR" -mindepth 1 -maxdepth 1 | head -5)
[ -z "$leftover" ] || fail "left behind: $leftover"

echo "== micro-benchmarks"
"$micro" --benchmark_min_time=0.001 --benchmark_format=json >"$work/micro.json" 2>/dev/null ||
  fail "micro-benchmarks failed"
python3 - "$work/micro.json" <<'EOF'
import json, sys
names = {b["name"].split("/")[0] for b in json.load(open(sys.argv[1]))["benchmarks"]}
want = {"BM_Encode", "BM_DecodeChecksum", "BM_Evolve", "BM_DecideFork", "BM_DecideUnfork"}
missing = want - names
if missing:
    sys.exit(f"micro-benchmarks missing: {sorted(missing)}")
EOF
echo "bench_smoke_test: ok"
