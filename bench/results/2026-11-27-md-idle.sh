#!/bin/bash
# Issue 13, market data gets the shard's quiet turns back (branch md-idle):
# main (7e2071c's tradsys, equal to main for market data) against the
# branch, alternating, the same tradsys-bench (the branch's, which adds the
# gateway's own wire_to_wire and loop_cycle over each md-orders run) for
# both. (a) fan-out alone at K=1000; (b) order entry without and with 1,000
# subscribers on the traded symbol. Ports moved off the defaults (other
# benches share the host). Usage: bench/results/2026-11-27-md-idle.sh ROUNDS
# from the repository root, with OLD and NEW directories holding tradsys
# and tradsys-bench. Its output, -run1.txt, is of the branch at 23a5840
# (quiet turns lifted the pump and the sends to 1 MiB; since 935bac0 only
# the pump: -final.sh).
set -u
rounds=${1:-3}
old=${OLD:-/work/bin-md-idle-old}
new=${NEW:-/work/bin-md-idle-new}
config=$(mktemp /tmp/md-idle-ports.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7311/' -e 's/127.0.0.1:7002/127.0.0.1:7312/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9311/' configs/bench.toml > "$config"
fanout() { # label dir
  echo "== $1 fan-out K=1000 (uptime: $(uptime))"
  "$2/tradsys-bench" md --gateway-config "$config" --subscribers 1000 --no-peer \
    --oe-subscribers 0 --duration 5 2>&1 | grep -E "md-fanout|closed"
}
orders() { # label dir
  echo "== $1 order entry with 1000 subscribers on symbol 2 (uptime: $(uptime))"
  "$2/tradsys-bench" md --gateway-config "$config" --subscribers 1 --no-peer \
    --oe-md-symbol 2 --duration 5 2>&1 | grep -E "md-orders"
}
for r in $(seq 1 "$rounds"); do
  fanout "r$r old" "$old"
  fanout "r$r new" "$new"
  orders "r$r old" "$old"
  orders "r$r new" "$new"
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
