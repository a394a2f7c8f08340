#!/bin/bash
# Before/after in one run: alternates two builds' engine and gateway benches
# so that both sides see the same host (these machines are noisy; judge the
# pairs, not single figures).
#
#   bench/ab.sh BEFORE_BIN_DIR BEFORE_SRC AFTER_BIN_DIR AFTER_SRC [ROUNDS]
#
# A BIN_DIR holds release `tradsys` and `tradsys-bench` (build each commit in
# its own worktree with its own CARGO_TARGET_DIR); a SRC is that commit's
# checkout, whose configs/bench.toml the gateway runs on (journal in a
# temporary directory). Port 7001 must be free.
set -u
BEFORE=$1; BEFORE_SRC=$2; AFTER=$3; AFTER_SRC=$4; ROUNDS=${5:-2}

run_gateway() { # bin_dir src label
  local dir pid
  dir=$(mktemp -d /tmp/ab-gateway.XXXX)
  sed "s|dir = \"./data\"|dir = \"$dir/data\"|" "$2/configs/bench.toml" > "$dir/bench.toml"
  "$1/tradsys" serve --config "$dir/bench.toml" > "$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do grep -q "ready" "$dir/log" && break; sleep 0.1; done
  echo "== $3 gateway"
  "$1/tradsys-bench" gateway --pings 50000 --burst 500000 2>&1 | grep -v "^$"
  kill -INT "$pid"; wait "$pid"; rm -rf "$dir"
}

for round in $(seq 1 "$ROUNDS"); do
  for side in before after; do
    if [ "$side" = before ]; then bin=$BEFORE; src=$BEFORE_SRC; else bin=$AFTER; src=$AFTER_SRC; fi
    echo "== round $round $side engine"
    "$bin/tradsys-bench" engine --ops 1000000 --repeat 3 2>&1 | grep -v "^$"
    run_gateway "$bin" "$src" "round $round $side"
  done
done
