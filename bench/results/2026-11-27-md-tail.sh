#!/bin/bash
# Issue 13, the K=1000 fan-out tail (branch md-tail): main's market-data
# code (BASE: /work/bin-new, built from main with equal market-data code)
# against the branch (NEW: the branch's release tradsys next to the same
# tradsys-bench), alternating, one tradsys-bench for both. Per round and
# build: (a) `md` at K=100 and 1000 with the tokio-tungstenite peer in the
# same run; (b) order entry without and with 1,000 subscribers on the
# traded symbol (`--oe-md-symbol 2`). `uptime` next to each figure: other
# builds share the host. Ports moved off the defaults.
# Usage, from the repository root: bench/results/2026-11-27-md-tail.sh ROUNDS
set -u
rounds=${1:-3}
base=${BASE:-/work/bin-new}
new=${NEW:-/work/bin-md-tail}
config=$(mktemp /tmp/md-tail-ports.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7361/' -e 's/127.0.0.1:7002/127.0.0.1:7362/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9361/' configs/bench.toml > "$config"
fanout() { # label dir
  echo "== $1 md K=100,1000 with the peer (uptime: $(uptime))"
  "$2/tradsys-bench" md --gateway-config "$config" --subscribers 100,1000 \
    --oe-subscribers 0 --duration 5 2>&1 | grep -E "md-fanout|closed|burst"
  echo "   (uptime after: $(uptime))"
}
orders() { # label dir
  echo "== $1 order entry with 1000 subscribers on symbol 2 (uptime: $(uptime))"
  "$2/tradsys-bench" md --gateway-config "$config" --subscribers 1 --no-peer \
    --oe-md-symbol 2 --duration 5 2>&1 | grep -E "md-orders|gateway|closed"
}
for r in $(seq 1 "$rounds"); do
  fanout "r$r base" "$base"
  fanout "r$r new" "$new"
  orders "r$r base" "$base"
  orders "r$r new" "$new"
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
