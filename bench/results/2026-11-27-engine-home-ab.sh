#!/bin/bash
# ab.sh ROUNDS A B [SYMBOLS]: engine --peers (without orderbook-rs), builds alternated
R=$1; A=$2; B=$3; S=${4:-100}
for r in $(seq 1 $R); do for b in $A $B; do
  echo "== round $r $b ($(uptime | sed 's/.*load/load/'))"
  $b/tradsys-bench engine --peers --symbols $S --peer-ops 300000 --repeat 3 --without-orderbook-rs 2>&1 | grep -E "engine-vs|latency"
done; done
