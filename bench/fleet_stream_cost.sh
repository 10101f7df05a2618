#!/usr/bin/env bash
# What one forkjournal event costs in the FORKJOURNAL JetStream stream, and how
# fast a shipper-shaped publisher fills it, against scratch nats-servers on
# this machine (the figures of docs/fleet.md, "Sizing").
#
#   bash bench/fleet_stream_cost.sh [--replicas 1|3] [--journals J] [--events E]
#                                   [--record-bytes B] [--port P]
#
# Needs nats-server and libnats-dev (Debian 12: nats-server, libnats-dev).
# It compiles bench/fleet_stream_cost.cc into a temporary directory, starts one
# server (--replicas 1) or a three-node cluster on loopback (--replicas 3)
# with its store in that directory, runs two passes on a fresh stream each —
# acknowledged one at a time with ExpectLastSubjectSeq (the shipper's way)
# and then copied into a second stream that sources the first (a hub's copy),
# then asynchronous (the servers' aggregate rate) and read back through a
# durable pull consumer — prints the stream's bytes per message and the
# store's size on disk per node, stops the servers it started (by pid) and
# removes the directory.
set -euo pipefail

replicas=1 journals=100 events=100 record_bytes=66 port=24222
while (($#)); do
  case "$1" in
    --replicas) replicas="$2"; shift 2 ;;
    --journals) journals="$2"; shift 2 ;;
    --events) events="$2"; shift 2 ;;
    --record-bytes) record_bytes="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "usage: $0 [--replicas 1|3] [--journals J] [--events E] [--record-bytes B] [--port P]" >&2; exit 2 ;;
  esac
done
if [[ "$replicas" != 1 && "$replicas" != 3 ]]; then
  echo "$0: --replicas is 1 or 3" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap 'stop; rm -rf "$work"' EXIT

nice g++ -std=c++20 -O2 -Wall -Wextra "$here/fleet_stream_cost.cc" -o "$work/fleet_stream_cost" -lnats

start() {  # a fresh store: one server, or three routed to each other
  stop
  rm -rf "$work/store"
  local nodes=$replicas
  for ((i = 1; i <= nodes; i++)); do
    mkdir -p "$work/store/n$i"
    {
      echo "server_name: fj$i"
      echo "listen: 127.0.0.1:$((port + i - 1))"
      echo "jetstream { store_dir: \"$work/store/n$i\" }"
      if ((nodes > 1)); then
        echo "cluster { name: fjbench, listen: 127.0.0.1:$((port + 100 + i - 1))"
        echo "  routes: [nats://127.0.0.1:$((port + 100)), nats://127.0.0.1:$((port + 101)), nats://127.0.0.1:$((port + 102))] }"
      fi
    } >"$work/n$i.conf"
    nats-server -c "$work/n$i.conf" >"$work/n$i.log" 2>&1 &
    pids+=($!)
  done
  # A cluster elects its JetStream meta leader a few seconds after the routes form.
  for _ in $(seq 1 100); do
    if ((nodes == 1)) && grep -q 'Server is ready' "$work/n1.log"; then return; fi
    if ((nodes > 1)) && grep -q 'metadata leader' "$work/n1.log"; then sleep 1; return; fi
    sleep 0.1
  done
  echo "$0: nats-server did not start; its log:" >&2
  cat "$work/n1.log" >&2
  exit 2
}

on_disk() {
  for ((i = 1; i <= replicas; i++)); do
    local data sys
    data=$(du -sb "$work/store/n$i/jetstream/\$G" | cut -f1)
    sys=$(du -sb "$work/store/n$i/jetstream/\$SYS" 2>/dev/null | cut -f1 || echo 0)
    echo "node $i on disk      streams' files $data bytes, raft logs and meta $sys bytes"
  done
}

run_pass() {  # TITLE, then the program's options for this pass
  start
  echo "== replicas $replicas, $1"
  shift
  nice "$work/fleet_stream_cost" --url "nats://127.0.0.1:$port" --create --replicas "$replicas" \
    --journals "$journals" --events "$events" --record-bytes "$record_bytes" "$@"
  on_disk
}
run_pass "one at a time, then copied into a stream that sources it" --expect --source
run_pass "asynchronous, then read back" --read
