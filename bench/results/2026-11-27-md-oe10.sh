#!/bin/bash
# Issue 13, order entry with 1,000 idle subscribers (to book and trades of
# symbol 1, while the order flow trades symbol 2): main's release build
# (OLD, /work/bin-new: main's market-data code) against the branch md-oe10
# (NEW: heartbeats spread over the second, timers that visit only the
# clients due), alternating, the branch's tradsys-bench for both. Per round
# and build: (a) `tradsys-bench md --subscribers 1 --no-peer --duration 5`
# (the md-orders phase: open loop 10,000 req/s, client p50/p99 and the
# gateway's own wire_to_wire, without and with the subscribers); (b) the
# shard's CPU with 1,000 idle subscribers and no order flow
# (2026-11-27-md-oe10-idle.py). Ports moved off the defaults (other
# benches share the host). Run from the repository root:
#   OLD=/work/bin-new NEW=DIR bench/results/2026-11-27-md-oe10.sh ROUNDS
set -u
rounds=${1:-3}
old=${OLD:-/work/bin-new}
new=${NEW:-/work/bin-md-oe10}
bench=${BENCH:-$new/tradsys-bench}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/md-oe10.XXXX)
sed -e 's/127.0.0.1:7001/127.0.0.1:7613/' -e 's/127.0.0.1:7002/127.0.0.1:7614/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9613/' -e "s#dir = \"./data\"#dir = \"$work/data\"#" \
    configs/bench.toml > "$work/spin.toml"
sed 's/idle = "spin"/idle = "park"/' "$work/spin.toml" > "$work/park.toml"
# The bench starts the tradsys next to itself: a directory per build with
# its tradsys and the same tradsys-bench (copies: /proc/self/exe resolves links).
mkdir "$work/old" "$work/new"
cp "$old/tradsys" "$work/old/" && cp "$new/tradsys" "$work/new/"
cp "$bench" "$work/old/tradsys-bench" && cp "$bench" "$work/new/tradsys-bench"
old=$work/old
new=$work/new
orders() { # label dir
  echo "== $1 md-orders, 1000 subscribers on symbol 1 (uptime: $(uptime))"
  rm -rf "$work/data"
  "$2/tradsys-bench" md --gateway-config "$work/spin.toml" --subscribers 1 --no-peer \
    --duration 5 2>&1 | grep -E "md-orders"
  echo "   (uptime after: $(uptime))"
}
idle() { # label dir
  echo "== $1 idle shard (uptime: $(uptime))"
  for k in 0 1000; do
    rm -rf "$work/data"
    python3 "$here/2026-11-27-md-oe10-idle.py" "$2/tradsys" "$work/park.toml" 7614 "$k" 10
  done
}
for r in $(seq 1 "$rounds"); do
  orders "r$r old" "$old"
  orders "r$r new" "$new"
  idle "r$r old" "$old"
  idle "r$r new" "$new"
done
echo "== end (uptime: $(uptime))"
rm -rf "$work"
