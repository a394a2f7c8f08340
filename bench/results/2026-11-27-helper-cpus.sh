#!/bin/bash
# The shard's file helpers off its core (runtime/helper_cpus.rs): one
# closed-loop order-mix run (4 sessions x 64 in flight, 5 s; journal segments
# of the default 64 MiB roll over about twice a second) per build, the builds
# alternated; per run the client's latency, the shard thread's run-queue wait
# during the run (schedstat) and the gateway's own stage histograms
# (GET /latency?stage=wire_to_wire and intake, 99.9th and 99.99th).
#
#   2026-11-27-helper-cpus.sh ROUNDS BIN_DIR...
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PORT=17371
run() { # bin_dir work_dir
  rm -rf "$2/data"
  (cd "$2" && exec "$1/tradsys" serve --config bench.toml > "$2/gw.log" 2>&1) &
  local gw=$!
  for _ in $(seq 1 300); do grep -q "ready order_entry" "$2/gw.log" && break; sleep 0.2; done
  local tid w0 w1
  tid=$(grep -l '^shard-0$' /proc/$gw/task/*/comm | cut -d/ -f5)
  w0=$(cut -d' ' -f2 /proc/$gw/task/$tid/schedstat)
  "$1/tradsys-bench" orders --addr 127.0.0.1:$PORT --rate 0 --depth 64 --connections 4 \
    --accounts 1,2,3,4 --symbols 1,2,3,4 --mix rest=45,cancel=30,replace=15,take=10 \
    --max-resting 4000 --warmup 0 --duration 5 --hgrm "$2/o.hgrm" 2>&1 | grep -E "latency \(|throughput"
  w1=$(cut -d' ' -f2 /proc/$gw/task/$tid/schedstat)
  echo "shard run-queue wait during the run: $(( (w1 - w0) / 1000000 )) ms"
  for s in wire_to_wire intake; do
    echo "$s: $(curl -s "127.0.0.1:$((PORT + 2000))/latency?stage=$s" | awk '$2 >= 0.99 && $2 < 0.9991 {v=$1} $2 >= 0.9999 && $2 < 0.99991 {w=$1} END {printf "p99.9=%s p99.99=%s us", v, w}')"
  done
  kill -INT "$gw"; wait "$gw"
}
[ $# -ge 2 ] || { echo "usage: $0 ROUNDS BIN_DIR..." >&2; exit 2; }
rounds=$1; shift
w=$(mktemp -d)
sed -e "s/7001/$PORT/; s/7002/$((PORT + 1))/; s/9090/$((PORT + 2000))/; s/idle = \"spin\"/idle = \"park\"/" \
  "$REPO/configs/bench.toml" > "$w/bench.toml"
for r in $(seq 1 "$rounds"); do
  for b in "$@"; do echo "== round $r $b ($(uptime | sed 's/.*load/load/'))"; run "$b" "$w"; done
done
rm -rf "$w"
