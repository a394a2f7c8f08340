#!/bin/bash
# Issue 15 item 3: requests/s through one shard over TCP against the number
# of requests each session keeps in flight (closed loop, the realistic mix
# of 2026-11-27-gw-path2.sh: 4 sessions; 45% passive new near the touch, 30%
# cancels, 15% replaces, 10% takes that trade; up to 4,000 orders resting
# per session). One gateway per run (configs/bench.toml with idle = "park",
# sync = none, a fresh journal; shard on core 0, the client's one thread
# on core 1), 5 s measured from the first request.
#
#   2026-11-27-gw-depth.sh ROUNDS BIN_DIR [DEPTH...]   (default 64 256 1024)
#
# Per run: requests/s; the shard thread's CPU per request (schedstat run
# time over the run / answered) and user/system split; the client's CPU per
# request; the latency the client saw (send to first answer, which in a
# closed loop is depth / throughput by Little's law plus the spread), and
# the rejects (cancels and replaces of orders that filled meanwhile).
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MIX="rest=45,cancel=30,replace=15,take=10"
PORT=17361

wait_ready() { # log pid
  for _ in $(seq 1 600); do
    grep -q "ready order_entry" "$1" && return
    kill -0 "$2" 2> /dev/null || { tail -3 "$1" >&2; exit 1; }
    sleep 0.2
  done
  echo "gateway not ready" >&2; exit 1
}

# run ns, utime ticks, stime ticks of the gateway's shard-0 thread
shard_cpu() { # pid
  local tid
  tid=$(grep -l '^shard-0$' /proc/"$1"/task/*/comm | cut -d/ -f5)
  echo "$(cut -d' ' -f1 "/proc/$1/task/$tid/schedstat")" \
    "$(sed 's/.*) //' "/proc/$1/task/$tid/stat" | cut -d' ' -f12-13)"
}

run() { # bin_dir work_dir depth
  rm -rf "$2/data" "$2/gw.log"
  (cd "$2" && exec "$1/tradsys" serve --config bench.toml > "$2/gw.log" 2>&1) &
  local gw=$!
  wait_ready "$2/gw.log" "$gw"
  local before after out load
  load=$(uptime | sed 's/.*load average: //')
  before=$(shard_cpu "$gw")
  out=$(/usr/bin/time -f "client_cpu_s=%U+%S" "$1/tradsys-bench" orders \
    --addr "127.0.0.1:$PORT" --rate 0 --depth "$3" --connections 4 \
    --accounts "1,2,3,4" --symbols "1,2,3,4" --mix "$MIX" --max-resting 4000 \
    --warmup 0 --duration 5 --hgrm "$2/o.hgrm" 2>&1)
  after=$(shard_cpu "$gw")
  kill -INT "$gw"; wait "$gw"
  local answered rate client rejects latency
  answered=$(echo "$out" | grep -o '[0-9]* answered' | head -1 | cut -d' ' -f1)
  rate=$(echo "$out" | grep -o 'throughput: [0-9]* req/s' | cut -d' ' -f2)
  client=$(echo "$out" | grep -o 'client_cpu_s=[0-9.+]*' | cut -d= -f2)
  rejects=$(echo "$out" | grep -o '[0-9]* rejects' | cut -d' ' -f1)
  latency=$(echo "$out" | grep '^orders latency' | grep -o 'p50=.*')
  echo "$before $after $answered $rate $client" | awk -v depth="$3" -v load="$load" \
    -v rejects="$rejects" -v latency="$latency" '{
    run = ($4 - $1) / 1e9; ut = ($5 - $2) / 100; st = ($6 - $3) / 100;
    split($9, c, "+"); ccpu = c[1] + c[2];
    printf "depth=%d req_per_s=%d answered=%d rejects=%d shard_ns_per_req=%.0f (user %.2f s sys %.2f s)" \
      " client_ns_per_req=%.0f load=%s\n    latency %s\n",
      depth, $8, $7, rejects, run * 1e9 / $7, ut, st, ccpu * 1e9 / $7, load, latency }'
}

main() { # rounds bin_dir depths...
  local rounds=$1 bin=$2 w
  shift 2
  local depths=("$@")
  [ ${#depths[@]} -gt 0 ] || depths=(64 256 1024)
  w=$(mktemp -d)
  sed -e "s/7001/$PORT/; s/7002/$((PORT + 1))/; s/9090/$((PORT + 2000))/; s/idle = \"spin\"/idle = \"park\"/" \
    "$REPO/configs/bench.toml" > "$w/bench.toml"
  echo "# $(date -u +%FT%TZ) $(git -C "$REPO" log -1 --format='%h' 2>/dev/null) bin=$bin"
  for r in $(seq 1 "$rounds"); do
    echo "round $r"
    for d in "${depths[@]}"; do run "$bin" "$w" "$d"; done
  done
  rm -rf "$w"
}

[ $# -ge 2 ] || { echo "usage: $0 ROUNDS BIN_DIR [DEPTH...]" >&2; exit 2; }
main "$@"
