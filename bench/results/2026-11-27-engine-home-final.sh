#!/bin/bash
# final.sh ROUNDS BASE NEW: full engine --peers (orderbook-rs included), alternated
R=$1; A=$2; B=$3
for r in $(seq 1 $R); do for b in $A $B; do
  echo "== round $r $b ($(uptime | sed 's/.*load/load/'))"
  $b/tradsys-bench engine --peers --peer-ops 300000 --repeat 3 2>&1
done; done
