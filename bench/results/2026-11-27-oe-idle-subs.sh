#!/bin/bash
# Issue 13: order entry at 10,000/s with 1,000 subscribers on another symbol
# (the md bench's md-orders phase, defaults), the build before this session's
# market-data changes (/work/fl-new: de6382c) against this session's (/work/fl-flush128:
# 68c1c37, spread heartbeats and the bounded flush), alternating, one tradsys-bench
# (68c1c37's) beside each build's tradsys. Usage: bench/results/2026-11-27-oe-idle-subs.sh ROUNDS
set -u
rounds=${1:-3}
config=$(mktemp /tmp/oe-idle.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7393/' -e 's/127.0.0.1:7002/127.0.0.1:7394/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9393/' configs/bench.toml > "$config"
for r in $(seq 1 "$rounds"); do
  for b in /work/fl-new /work/fl-flush128; do
    echo "== r$r $b (uptime: $(uptime))"
    "$b/tradsys-bench" md --gateway-config "$config" --subscribers 1 --no-peer --duration 5 2>&1 \
      | grep -E "md-orders subscribers=(0|1000)(:| gateway wire)|vs 0"
  done
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
