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
#   one:     configs/bench.toml, one shard on core 0 (the layout the
#            earlier figures of MARKET_DATA.md section 12 ran), with
#            LAYOUTS="one default split".
# The load generator and the subscribers' reader thread run on core
# $CLIENT (`--client-cores`, default 1: they share core 1 with shard 1,
# the fan-out shard of the split layout; CLIENT=0 puts them beside the
# matching shard instead). Ports moved off the defaults (other benches
# share the host). Usage, from the repository root:
#   BIN=/path/with/tradsys-and-bench [CLIENT=1] [LAYOUTS="default split"] \
#     bench/results/2026-11-27-md-shards.sh ROUNDS
# Runs: `.txt` is the first run (3 rounds, CLIENT=1, default and split),
# `-2.txt` the second (LAYOUTS="one default split", 2 rounds), `-3.txt`
# the third (CLIENT=0, 2 rounds), `-4.txt` the fourth (CLIENT=0,
# LAYOUTS="one default split", 2 rounds).
set -u
rounds=${1:-3}
bin=${BIN:-target/release}
split=$(mktemp /tmp/md-shards-split.XXXX.toml)
default=$(mktemp /tmp/md-shards-default.XXXX.toml)
one=$(mktemp /tmp/md-shards-one.XXXX.toml)
client=${CLIENT:-1}
layouts=${LAYOUTS:-default split}
sed -e 's/127.0.0.1:7001/127.0.0.1:7481/' -e 's/127.0.0.1:7002/127.0.0.1:7482/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9481/' configs/bench-md-shards.toml > "$split"
grep -v -e '^order_entry_shards' -e '^market_data_shards' "$split" > "$default"
sed -e 's/127.0.0.1:7001/127.0.0.1:7481/' -e 's/127.0.0.1:7002/127.0.0.1:7482/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9481/' configs/bench.toml > "$one"
orders() { # label config
  # Other helpers' gateways and benches share this host: count them.
  others=$(pgrep -f -c "tradsys(-bench)? (serve|md|orders)" || true)
  echo "== $1 (client core $client) order entry with 1000 subscribers on symbol 2 (uptime: $(uptime); tradsys/bench processes running before this one: $others)"
  "$bin/tradsys-bench" md --gateway-config "$2" --subscribers 1 --no-peer \
    --oe-md-symbol 2 --duration 5 --client-cores "$client" 2>&1 | grep -E "md-orders|per shard"
}
for r in $(seq 1 "$rounds"); do
  for layout in $layouts; do
    case $layout in
      default) orders "r$r default" "$default" ;;
      split) orders "r$r split" "$split" ;;
      one) orders "r$r one" "$one" ;;
    esac
  done
done
echo "== end (uptime: $(uptime))"
rm -f "$split" "$default" "$one"
