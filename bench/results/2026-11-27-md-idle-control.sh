#!/bin/bash
# The control for 2026-11-27-md-idle-shares.sh: the experiment build with
# its quiet share set to the busy one (64 KiB + 64 KiB, what main does in
# every turn) against main and against the pump-only lift (1 MiB copied, 64 KiB sent),
# alternating, with the bench that prints how long each burst took to
# enter. Usage from the repository root: ...-control.sh ROUNDS
set -u
rounds=${1:-2}
old=${OLD:-/work/bin-md-idle-exp-old}
exp=${EXP:-/work/bin-md-idle-exp}
config=$(mktemp /tmp/md-idle-control.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7331/' -e 's/127.0.0.1:7002/127.0.0.1:7332/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9331/' configs/bench.toml > "$config"
fanout() { # label dir pump send
  echo "== $1 fan-out K=1000 (uptime: $(uptime))"
  EXP_IDLE_PUMP=$3 EXP_IDLE_SEND=$4 "$2/tradsys-bench" md --gateway-config "$config" \
    --subscribers 1000 --no-peer --oe-subscribers 0 --duration 5 2>&1 | grep -E "md-fanout|closed|burst"
}
for r in $(seq 1 "$rounds"); do
  fanout "r$r old" "$old" 0 0
  fanout "r$r quiet pump 64K send 64K (control)" "$exp" 65536 65536
  fanout "r$r quiet pump 1M send 64K" "$exp" 1048576 65536
done
echo "== end (uptime: $(uptime))"
rm -f "$config"
