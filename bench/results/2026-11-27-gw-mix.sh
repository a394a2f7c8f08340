#!/bin/bash
# Issue 15 item 3: the realistic mix, closed loop, through one shard over
# TCP (4 sessions x 64 in flight; 45% passive new near the touch, 30%
# cancels, 15% replaces, 10% takes that trade; each session keeps up to
# 4,000 orders resting, about 4,000 per symbol over the 4 symbols).
#
#   2026-11-27-gw-mix.sh ab ROUNDS BEFORE_DIR AFTER_DIR
#     the two builds alternating, one gateway (configs/bench.toml: one shard
#     spinning on core 0, sync = none, a fresh journal) per run, client on
#     core 1; per run the throughput, the client's and the gateway's CPU
#     seconds over the run (user+system) and the load average.
#   2026-11-27-gw-mix.sh callgrind BIN_DIR OUT_DIR ORDERS_ARGS...
#     the gateway (idle = "park") under callgrind, one file per thread;
#     counters zeroed after a 2 s warm-up, dumped after a 5 s run of
#     `tradsys-bench orders ORDERS_ARGS`; prints the run's counts and the
#     shard thread's instructions (the thread whose file names
#     shard::runtime::serve).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MIX="rest=45,cancel=30,replace=15,take=10"
LOAD=(--rate 0 --depth 64 --connections 4 --accounts "1,2,3,4" --symbols "1,2,3,4"
      --mix "$MIX" --max-resting 4000)

config() { # order-entry port (market data +1, admin +2000), idle, out
  sed -e "s/7001/$1/; s/7002/$(($1 + 1))/; s/9090/$(($1 + 2000))/; s/idle = \"spin\"/idle = \"$2\"/" \
    "$REPO/configs/bench.toml" > "$3"
}

wait_ready() { # log pid
  for _ in $(seq 1 600); do
    grep -q "ready order_entry" "$1" && return
    kill -0 "$2" 2> /dev/null || { tail -3 "$1" >&2; exit 1; }
    sleep 0.2
  done
}

ab_run() { # label bin_dir work_dir
  rm -rf "$3/data"
  (cd "$3" && exec "$2/tradsys" serve --config bench.toml > "$3/gw.log" 2>&1) &
  local gw=$!
  wait_ready "$3/gw.log" "$gw"
  local t0 t1 out
  t0=$(awk '{print $14 + $15}' "/proc/$gw/stat")
  out=$(/usr/bin/time -f "client_cpu_s=%U+%S wall_s=%e" "$2/tradsys-bench" orders \
    --addr 127.0.0.1:17321 "${LOAD[@]}" --warmup 1 --duration 5 --hgrm "$3/o.hgrm" 2>&1)
  t1=$(awk '{print $14 + $15}' "/proc/$gw/stat")
  kill -INT "$gw"; wait "$gw"
  echo "$1 $(echo "$out" | grep -o 'throughput: [0-9]* req/s')" \
    "$(echo "$out" | grep -o 'client_cpu_s=.*') gateway_cpu_s=$(echo "$t0 $t1" | awk '{print ($2 - $1) / 100}')" \
    "load=$(cut -d' ' -f1-3 /proc/loadavg)"
}

ab() { # rounds before after
  local w
  w=$(mktemp -d)
  config 17321 spin "$w/bench.toml"
  for r in $(seq 1 "$1"); do
    echo "round $r"
    ab_run before "$2" "$w"
    ab_run after "$3" "$w"
  done
  rm -rf "$w"
}

callgrind() { # bin_dir out_dir orders_args...
  local bin=$1 out=$2
  shift 2
  rm -rf "$out"; mkdir -p "$out"
  config 17331 park "$out/c.toml"
  (cd "$out" && exec valgrind --tool=callgrind --separate-threads=yes \
    --callgrind-out-file="$out/cg.%p" "$bin/tradsys" serve --config c.toml > "$out/gw.log" 2>&1) &
  local gw=$!
  wait_ready "$out/gw.log" "$gw"
  "$bin/tradsys-bench" orders --addr 127.0.0.1:17331 --hgrm "$out/o.hgrm" "$@" \
    --warmup 0 --duration 2 > "$out/warm.txt" 2>&1
  callgrind_control -z "$gw" > /dev/null
  "$bin/tradsys-bench" orders --addr 127.0.0.1:17331 --hgrm "$out/o.hgrm" "$@" \
    --warmup 0 --duration 5 > "$out/run.txt" 2>&1
  callgrind_control -d "$gw" > /dev/null
  kill -INT "$gw"; wait "$gw"
  grep -E "^orders: [0-9]|throughput" "$out/run.txt"
  for f in "$out"/cg.*.1-*; do
    if callgrind_annotate --inclusive=yes "$f" 2>/dev/null | grep -q "shard::runtime::serve"; then
      echo "shard thread $f: $(grep '^summary:' "$f")"
    fi
  done
}

case "${1:-}" in
  ab) shift; ab "$@" ;;
  callgrind) shift; callgrind "$@" ;;
  *) echo "usage: $0 ab ROUNDS BEFORE AFTER | callgrind BIN OUT ORDERS_ARGS..." >&2; exit 2 ;;
esac
