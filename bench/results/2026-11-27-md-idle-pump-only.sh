#!/bin/bash
# The branch's final rule (quiet turns lift the pump's share to 1 MiB, the
# writers keep 64 KiB) against main, alternating: fan-out K=1000 alone, then
# order entry with 1,000 subscribers on the traded symbol. Run with the
# experiment build of 2026-11-27-md-idle-shares.sh at EXP_IDLE_PUMP=1048576
# EXP_IDLE_SEND=65536, which is that rule; one tradsys-bench for both.
# Usage from the repository root: ...-pump-only.sh ROUNDS
set -u
rounds=${1:-2}
old=${OLD:-/work/bin-md-idle-exp-old}
exp=${EXP:-/work/bin-md-idle-exp}
config=$(mktemp /tmp/md-idle-pump.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7341/' -e 's/127.0.0.1:7002/127.0.0.1:7342/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9341/' configs/bench.toml > "$config"
fanout() { # label dir
  echo "== $1 fan-out K=1000 (uptime: $(uptime))"
  EXP_IDLE_PUMP=1048576 EXP_IDLE_SEND=65536 "$2/tradsys-bench" md --gateway-config "$config" \
    --subscribers 1000 --no-peer --oe-subscribers 0 --duration 5 2>&1 | grep -E "md-fanout|closed|burst"
}
orders() { # label dir
  echo "== $1 order entry with 1000 subscribers on symbol 2 (uptime: $(uptime))"
  EXP_IDLE_PUMP=1048576 EXP_IDLE_SEND=65536 "$2/tradsys-bench" md --gateway-config "$config" \
    --subscribers 1 --no-peer --oe-md-symbol 2 --duration 5 2>&1 | grep -E "md-orders"
}
for r in $(seq 1 "$rounds"); do
  orders "r$r old" "$old"
  orders "r$r new" "$exp"
  fanout "r$r old" "$old"
  fanout "r$r new" "$exp"
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
