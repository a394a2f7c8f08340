#!/bin/bash
# The pre-reactor gateway (7b58522^) against today's, alternating: open loop
# 50k/s (IOC mix defaults of each bench) and a pipelined burst.
set -u
run() { # label bin src
  local dir; dir=$(mktemp -d /tmp/ongw.XXXX)
  sed "s|dir = \"./data\"|dir = \"$dir/data\"|" "$3/configs/bench.toml" > "$dir/bench.toml"
  "$2/tradsys" serve --config "$dir/bench.toml" > "$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do grep -q "ready" "$dir/log" && break; sleep 0.1; done
  echo "== $1 (load $(cut -d' ' -f1 /proc/loadavg))"
  "$2/tradsys-bench" orders --rate 50000 --warmup 1 --duration 5 --hgrm "$dir/o.hgrm" 2>&1 | grep -E "steady|p50" | head -3
  "$2/tradsys-bench" gateway --pings 5000 --burst 1000000 --core 1 2>&1 | grep -E "orders/s"
  kill -INT $pid; wait $pid; rm -rf "$dir"
}
for r in 1 2 3; do
  run "r$r old" /work/bin-old /work/wt-old
  run "r$r new" /work/bin-now /work/main
done
