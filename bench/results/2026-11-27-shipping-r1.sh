#!/bin/bash
# One gateway (bench.toml), open loop 20k/s; client p50/p99 against the gateway's own wire_to_wire.
set -u
label=$1; extra=$2
dir=$(mktemp -d /tmp/shipx/gw.XXXX)
sed "s|dir = \"./data\"|dir = \"$dir/data\"|" /work/main/configs/bench.toml > "$dir/bench.toml"
printf '%b' "$extra" >> "$dir/bench.toml"
/work/bin-now/tradsys serve --config "$dir/bench.toml" > "$dir/log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do grep -q "ready" "$dir/log" && break; sleep 0.1; done
curl -s -X POST -H "Authorization: Bearer x" localhost:9090/latency/reset >/dev/null 2>&1
echo "== $label (load $(cut -d' ' -f1 /proc/loadavg))"
/work/bin-now/tradsys-bench orders --rate 20000 --warmup 1 --duration 5 --hgrm "$dir/o.hgrm" 2>&1 | grep -E "steady ioc"
curl -s "localhost:9090/latency?stage=wire_to_wire" | grep -E "^ +[0-9.]+ 0\.(5|99)0*0 " | head -1; curl -s "localhost:9090/latency?stage=wire_to_wire" | grep -E " 0\.99[0-9]* " | head -1
curl -s localhost:9090/metrics | grep -E "^tradsys_(replication|ship)[a-z_]*(shipped|seq|lag)[a-z_]*" | head -3
kill -INT $pid; wait $pid
