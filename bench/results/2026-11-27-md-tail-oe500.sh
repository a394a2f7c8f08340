#!/bin/bash
# Issue 13, what the flush costs order entry: orders at 500 requests/s
# (one every 2 ms, so order entry goes quiet for a millisecond between
# them and the shard flushes) with 1,000 subscribers on the traded symbol,
# main's market-data build (BASE) and the branch (NEW) alternating.
# Usage, from the repository root: bench/results/2026-11-27-md-tail-oe500.sh ROUNDS
set -u
rounds=${1:-2}
base=${BASE:-/work/bin-new}
new=${NEW:-/work/bin-md-tail}
config=$(mktemp /tmp/md-tail-oe.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7381/' -e 's/127.0.0.1:7002/127.0.0.1:7382/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9381/' configs/bench.toml > "$config"
orders() { # label dir
  echo "== $1 order entry at 500/s with 1000 subscribers on symbol 2 (uptime: $(uptime))"
  "$2/tradsys-bench" md --gateway-config "$config" --subscribers 1 --no-peer \
    --oe-md-symbol 2 --oe-rate 500 --duration 5 2>&1 | grep -E "md-orders|gateway|closed"
}
for r in $(seq 1 "$rounds"); do
  orders "r$r base" "$base"
  orders "r$r new" "$new"
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
