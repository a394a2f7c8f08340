#!/bin/bash
# Issue 15 item 3, the shard's own capacity: the realistic mix, closed loop,
# through one shard over TCP (the load of 2026-11-27-gw-mix.sh: 4 sessions x
# 64 in flight; 45% passive new near the touch, 30% cancels, 15% replaces,
# 10% takes that trade; up to 4,000 orders resting per session).
#
#   2026-11-27-gw-path2.sh ab ROUNDS BEFORE_DIR AFTER_DIR
#     the two builds alternating, one gateway per run (configs/bench.toml
#     with idle = "park", so the shard thread's run time is work and
#     wake-ups, not spinning; sync = none, a fresh journal; shard on core 0,
#     client on core 1). Per run: requests/s; the shard thread's CPU (run
#     time from /proc/<pid>/task/<tid>/schedstat, user and system ticks
#     from .../stat) and run-queue wait over the client's whole run
#     (warm-up 0, 5 s: every request it sent is in the count); the shard's
#     CPU per request and its ceiling (1 / CPU per request); the client's
#     CPU (user+system) and per request; `uptime` before the run.
#   2026-11-27-gw-path2.sh callgrind BIN_DIR OUT_DIR
#     the shard thread's instructions per request of the same load under
#     callgrind (2026-11-27-gw-mix.sh callgrind: idle = "park", counters
#     zeroed after a 2 s warm-up, 5 s counted).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MIX="rest=45,cancel=30,replace=15,take=10"
LOAD=(--rate 0 --depth 64 --connections 4 --accounts "1,2,3,4" --symbols "1,2,3,4"
      --mix "$MIX" --max-resting 4000)
PORT=17351

wait_ready() { # log pid
  for _ in $(seq 1 600); do
    grep -q "ready order_entry" "$1" && return
    kill -0 "$2" 2> /dev/null || { tail -3 "$1" >&2; exit 1; }
    sleep 0.2
  done
  echo "gateway not ready" >&2; exit 1
}

shard_tid() { # gateway pid
  grep -l '^shard-0$' /proc/"$1"/task/*/comm | cut -d/ -f5
}

# run ns, wait ns, utime ticks, stime ticks of one thread
thread_cpu() { # pid tid
  echo "$(cut -d' ' -f1-2 "/proc/$1/task/$2/schedstat")" \
    "$(sed 's/.*) //' "/proc/$1/task/$2/stat" | cut -d' ' -f12-13)"
}

ab_run() { # label bin_dir work_dir
  rm -rf "$3/data" "$3/gw.log"
  (cd "$3" && exec "$2/tradsys" serve --config bench.toml > "$3/gw.log" 2>&1) &
  local gw=$!
  wait_ready "$3/gw.log" "$gw"
  local tid before after out load
  tid=$(shard_tid "$gw")
  load=$(uptime | sed 's/.*load average: //')
  before=$(thread_cpu "$gw" "$tid")
  out=$(/usr/bin/time -f "client_cpu_s=%U+%S" "$2/tradsys-bench" orders \
    --addr "127.0.0.1:$PORT" "${LOAD[@]}" --warmup 0 --duration 5 --hgrm "$3/o.hgrm" 2>&1)
  after=$(thread_cpu "$gw" "$tid")
  kill -INT "$gw"; wait "$gw"
  local answered rate client
  answered=$(echo "$out" | grep -o '[0-9]* answered' | cut -d' ' -f1)
  rate=$(echo "$out" | grep -o 'throughput: [0-9]* req/s' | cut -d' ' -f2)
  client=$(echo "$out" | grep -o 'client_cpu_s=[0-9.+]*' | cut -d= -f2)
  echo "$before $after $answered $rate $client" | awk -v label="$1" -v load="$load" '{
    run = ($5 - $1) / 1e9; wait = ($6 - $2) / 1e9; ut = ($7 - $3) / 100; st = ($8 - $4) / 100;
    split($11, c, "+"); ccpu = c[1] + c[2];
    printf "%s req_per_s=%d answered=%d shard_cpu_s=%.3f (user %.2f sys %.2f) shard_wait_s=%.3f" \
      " shard_ns_per_req=%.0f shard_ceiling_req_per_s=%.0f client_cpu_s=%.2f client_ns_per_req=%.0f load=%s\n",
      label, $10, $9, run, ut, st, wait, run * 1e9 / $9, $9 / run, ccpu, ccpu * 1e9 / $9, load }'
}

ab() { # rounds before after
  local w
  w=$(mktemp -d)
  sed -e "s/7001/$PORT/; s/7002/$((PORT + 1))/; s/9090/$((PORT + 2000))/; s/idle = \"spin\"/idle = \"park\"/" \
    "$REPO/configs/bench.toml" > "$w/bench.toml"
  for r in $(seq 1 "$1"); do
    echo "round $r"
    ab_run before "$2" "$w"
    ab_run after "$3" "$w"
  done
  rm -rf "$w"
}

callgrind() { # bin_dir out_dir
  local out
  out=$("$REPO/bench/results/2026-11-27-gw-mix.sh" callgrind "$1" "$2" "${LOAD[@]}")
  echo "$out"
  local answered ir
  answered=$(echo "$out" | grep -o '[0-9]* answered' | cut -d' ' -f1)
  ir=$(echo "$out" | grep -o 'summary: [0-9]*' | cut -d' ' -f2)
  echo "shard thread instructions per request: $((ir / answered))"
}

case "${1:-}" in
  ab) shift; ab "$@" ;;
  callgrind) shift; callgrind "$@" ;;
  *) echo "usage: $0 ab ROUNDS BEFORE AFTER | callgrind BIN OUT" >&2; exit 2 ;;
esac
