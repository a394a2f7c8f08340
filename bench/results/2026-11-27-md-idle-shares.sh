#!/bin/bash
# Which half of the quiet turn's share costs the fan-out (K=1000 alone)?
# main's tradsys (7e2071c) against an experiment-only build of the branch
# whose quiet share is read from EXP_IDLE_PUMP / EXP_IDLE_SEND (bytes; the
# patch to shard/md/turn_share.rs::share is not on the branch), alternating,
# one tradsys-bench (the branch's, printing how long the burst took to
# enter). Usage from the repository root: ...-shares.sh ROUNDS
set -u
rounds=${1:-2}
old=${OLD:-/work/bin-md-idle-exp-old}
exp=${EXP:-/work/bin-md-idle-exp}
config=$(mktemp /tmp/md-idle-shares.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7321/' -e 's/127.0.0.1:7002/127.0.0.1:7322/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9321/' configs/bench.toml > "$config"
fanout() { # label dir pump send
  echo "== $1 fan-out K=1000 (uptime: $(uptime))"
  EXP_IDLE_PUMP=$3 EXP_IDLE_SEND=$4 "$2/tradsys-bench" md --gateway-config "$config" \
    --subscribers 1000 --no-peer --oe-subscribers 0 --duration 5 2>&1 | grep -E "md-fanout|closed|burst"
}
for r in $(seq 1 "$rounds"); do
  fanout "r$r old" "$old" 0 0
  fanout "r$r quiet pump 1M send 1M" "$exp" 1048576 1048576
  fanout "r$r quiet pump 64K send 1M" "$exp" 65536 1048576
  fanout "r$r quiet pump 1M send 64K" "$exp" 1048576 65536
  fanout "r$r quiet pump 256K send 256K" "$exp" 262144 262144
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
