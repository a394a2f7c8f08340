#!/bin/bash
# Issue 13, listener placement: order entry with 1,000 market-data
# subscribers on the traded symbol (symbol 2), the default layout against
# market data kept off the matching core, alternating, one release build
# (the branch's tradsys and tradsys-bench) for all. Both layouts are two
# shards on cores 0 and 1 with every symbol owned by shard 0
# (configs/bench-md-shards.toml):
#   split:   order_entry_shards = [0], market_data_shards = [1]
#   default: both shards bind both listeners (the two lines deleted), so
#            the kernel deals the subscribers (and the one order-entry
#            session) over both shards.
# The load generator and the subscribers' reader thread run on core 1
# (`--client-cores 1`, the default): they share it with shard 1, the
# fan-out shard of the split layout. Ports moved off the defaults (other
# benches share the host). Usage, from the repository root:
#   BIN=/path/with/tradsys-and-bench bench/results/2026-11-27-md-shards.sh ROUNDS
set -u
rounds=${1:-3}
bin=${BIN:-target/release}
split=$(mktemp /tmp/md-shards-split.XXXX.toml)
default=$(mktemp /tmp/md-shards-default.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7361/' -e 's/127.0.0.1:7002/127.0.0.1:7362/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9361/' configs/bench-md-shards.toml > "$split"
grep -v -e '^order_entry_shards' -e '^market_data_shards' "$split" > "$default"
orders() { # label config
  echo "== $1 order entry with 1000 subscribers on symbol 2 (uptime: $(uptime))"
  "$bin/tradsys-bench" md --gateway-config "$2" --subscribers 1 --no-peer \
    --oe-md-symbol 2 --duration 5 2>&1 | grep -E "md-orders|per shard"
}
for r in $(seq 1 "$rounds"); do
  orders "r$r default" "$default"
  orders "r$r split" "$split"
done
echo "== end (uptime: $(uptime))"
rm -f "$split" "$default"
