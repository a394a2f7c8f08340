#!/bin/bash
# The flush bound beside order entry (128 sends a turn) against md-tail's full
# flush and main before md-tail, alternating, one tradsys-bench (flush128's) copied
# next to each build's tradsys in /work/fl-{new,md-tail,flush128} (the bench starts the
# tradsys beside it). Usage, from the repository root: bench/results/2026-11-27-flush128.sh ROUNDS
set -u
rounds=${1:-2}
tb=/work/bin-flush128/tradsys-bench
config=$(mktemp /tmp/flush128.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7391/' -e 's/127.0.0.1:7002/127.0.0.1:7392/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9391/' configs/bench.toml > "$config"
for r in $(seq 1 "$rounds"); do
  for b in /work/fl-new /work/fl-md-tail /work/fl-flush128; do
    echo "== r$r $b oe500 (uptime: $(uptime))"
    "$b/tradsys-bench" md --gateway-config "$config" --subscribers 1 --no-peer \
      --oe-md-symbol 2 --oe-rate 500 --duration 5 2>&1 | grep -E "md-orders|closed"
    echo "== r$r $b fanout K=1000 (uptime: $(uptime))"
    "$b/tradsys-bench" md --gateway-config "$config" --subscribers 1000 --oe-subscribers 0 --duration 5 2>&1 | grep -E "md-fanout"
  done
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
