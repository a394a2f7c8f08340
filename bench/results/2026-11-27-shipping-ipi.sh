#!/bin/bash
# One gateway (bench.toml, shard on core 0), open loop 20k/s from core 1, shipping off or on (one R1
# nats-server); the shard thread's ctx switches, faults, TLB shootdowns and IPIs, the host's TLB/CAL
# rows on CPU0, who sent IPIs to CPU0 (ipi:ipi_send_cpu), where NATS and the shipper ran, and the gateway's own wire_to_wire.
# usage: 2026-11-27-shipping-ipi.sh off|on BINDIR (NATS_PIN=1: nats-server pinned to core 1)
set -u
label=$1; BIN=$2
mkdir -p /tmp/shipx
dir=$(mktemp -d /tmp/shipx/gw.XXXX)
sed -e "s|dir = \"./data\"|dir = \"$dir/data\"|" -e 's|7001|27001|;s|7002|27002|;s|9090|29090|' /work/main/configs/bench.toml > "$dir/bench.toml"
npid=""
if [ "$label" = on ]; then
  ${NATS_PIN:+taskset -c "$NATS_PIN"} nats-server -js -p 24222 -sd "$dir/nats" > "$dir/nats.log" 2>&1 & npid=$!
  sleep 0.5
  printf '\n[replication]\nnats_urls = ["nats://127.0.0.1:24222"]\nreplicas = 1\nstream = "S"\nsubject_prefix = "s.journal"\n' >> "$dir/bench.toml"
fi
"$BIN"/tradsys serve --config "$dir/bench.toml" > "$dir/log" 2>&1 & pid=$!
for _ in $(seq 1 200); do grep -q "ready" "$dir/log" && break; sleep 0.1; done
tid=$(grep -l '^shard-0$' "/proc/$pid"/task/*/comm | cut -d/ -f5)
curl -s -X POST -H "Authorization: Bearer x" localhost:29090/latency/reset >/dev/null 2>&1
# warm up 1 s, then measure over the steady 5 s only
"$BIN"/tradsys-bench orders --addr 127.0.0.1:27001 --rate 20000 --warmup 0 --duration 1 --hgrm "$dir/w.hgrm" >/dev/null 2>&1
curl -s -X POST -H "Authorization: Bearer x" localhost:29090/latency/reset >/dev/null 2>&1
nv0=$(awk '/^nonvoluntary/{print $2}' "/proc/$pid/task/$tid/status")
irq0=$(awk '/^ *(TLB|CAL):/{printf "%s=%s ", $1, $2}' /proc/interrupts)
perf stat -e page-faults,context-switches,cpu-migrations,irq_vectors:call_function_entry,irq_vectors:call_function_single_entry -e tlb:tlb_flush --filter 'reason == 1' -t "$tid" -o "$dir/perf.txt" &
ppid=$!
perf record -a -e ipi:ipi_send_cpu --filter 'cpu == 0' -g -o "$dir/send.data" >/dev/null 2>&1 &
rpid=$!
( while kill -0 "$pid" 2>/dev/null; do ps -L -o psr=,comm= -p "$pid" ${npid:+-p $npid}; sleep 0.25; done ) > "$dir/psr.txt" 2>/dev/null &
spid=$!
l0=$(cut -d' ' -f1 /proc/loadavg)
"$BIN"/tradsys-bench orders --addr 127.0.0.1:27001 --rate 20000 --warmup 0 --duration 5 --hgrm "$dir/o.hgrm" 2>&1 | grep -E "latency" > "$dir/client.txt"
kill -INT "$ppid" "$rpid"; wait "$ppid" "$rpid" 2>/dev/null
kill "$spid"
nv1=$(awk '/^nonvoluntary/{print $2}' "/proc/$pid/task/$tid/status")
irq1=$(awk '/^ *(TLB|CAL):/{printf "%s=%s ", $1, $2}' /proc/interrupts)
echo "== shipping $label, load $l0 -> $(cut -d' ' -f1 /proc/loadavg), dir $dir"
sed 's/^/client: /' "$dir/client.txt" | cut -c1-160
echo "shard thread $tid: nonvoluntary ctx switches +$((nv1-nv0)); CPU0 /proc/interrupts before: $irq0 after: $irq1"
grep -E "page-faults|context-switches|cpu-migrations|call_function|tlb" "$dir/perf.txt" | awk '{print "shard perf stat: " $1, $2}'
curl -s "localhost:29090/latency?stage=wire_to_wire" > "$dir/w2w.txt"
echo "wire_to_wire (gateway /latency, us): $(awk '$2+0>=0.5 && !a {printf "p50 %s ", $1; a=1} $2+0>=0.99 && !b {printf "p99 %s ", $1; b=1} $2+0>=0.999 && !c {printf "p99.9 %s ", $1; c=1}' "$dir/w2w.txt")"
echo "threads by CPU (samples every 0.25 s):"; sort "$dir/psr.txt" | uniq -c | sort -k3 | awk '{printf "  %s on cpu%s x%s\n", $3, $2, $1}'
kill -INT "$pid"; wait "$pid"
[ -n "$npid" ] && { kill "$npid"; wait "$npid"; }
echo "IPIs sent to CPU0 (ipi:ipi_send_cpu), by sender:"
perf report -i "$dir/send.data" --no-children -g none --sort pid -n --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -12; echo "(gateway pid $pid, nats pid ${npid:-none})"
