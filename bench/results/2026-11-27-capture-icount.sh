#!/bin/bash
# Instructions per order on the shard thread, counted by callgrind (the VM
# has no PMU): capture off / on 1-in-16 (the default) / on 1-in-1, and
# shipping to a local NATS server off / on. Each config runs the gateway
# under valgrind, one `tradsys-bench gateway --pings 1 --burst B` against
# it, then SIGINT. Instructions are collected only while the bench runs
# (callgrind_control -i on, then -d), and the shard's ticker (by wall time,
# which valgrind stretches by the host's load) is taken out: the shard
# thread's file gives its Ir, the ticker's inclusive Ir and how many times
# each rdtsc ran (callgrind-rdtsc.py). Two bursts per config: the slope
# (Ir(B2) - Ir(B1)) / (B2 - B1) cancels the logon, ping and end of the
# connection.
# usage: 2026-11-27-capture-icount.sh BIN_DIR SRC [B1 B2] [CONFIGS]
#   CONFIGS: any of off on16 on1 ship (default: off on16 on1)
#   KEEP=DIR in the environment keeps the callgrind files there.
#   CACHE=1 in the environment adds callgrind's cache simulation (the
#   same simulator as cachegrind's --cache-sim=yes, kept per thread).
set -u
BIN=$1; SRC=$2; B1=${3:-20000}; B2=${4:-100000}; CONFIGS=${5:-off on16 on1}
HERE=$(cd "$(dirname "$0")" && pwd)
OE=127.0.0.1:17101; ADMIN=127.0.0.1:17190
NATS_PORT=17222

telemetry() { # config -> [telemetry] block
  case $1 in
    off) printf 'latency_capture = false\n' ;;
    on1) printf 'latency_capture = true\ncommand_sample_every = 1\n' ;;
    *) printf 'latency_capture = true\ncommand_sample_every = 16\n' ;;
  esac
}

run() { # config burst
  local cfg=$1 burst=$2 dir
  dir=$(mktemp -d /tmp/icount.XXXX)
  sed -e "s|dir = \"./data\"|dir = \"$dir/data\"|" -e 's|idle = "spin"|idle = "park"|' \
      -e "s|127.0.0.1:7001|$OE|" -e 's|127.0.0.1:7002|127.0.0.1:17102|' \
      -e "s|127.0.0.1:9090|$ADMIN|" "$SRC/configs/bench.toml" > "$dir/bench.toml"
  printf '\n[telemetry]\n%s' "$(telemetry "$cfg")" >> "$dir/bench.toml"
  if [ "$cfg" = ship ]; then
    start_nats "$dir"
    printf '\n[replication]\nnats_urls = ["nats://127.0.0.1:%s"]\nreplicas = 1\nstream = "ICOUNT%s"\n' \
      "$NATS_PORT" "$burst" >> "$dir/bench.toml"
  fi
  local sim=; [ "${CACHE:-0}" = 1 ] && sim=--cache-sim=yes
  valgrind --tool=callgrind $sim --separate-threads=yes --instr-atstart=no --dump-instr=yes --compress-pos=no \
    --compress-strings=no --callgrind-out-file="$dir/cg.%p" \
    "$BIN/tradsys" serve --config "$dir/bench.toml" > "$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do grep -q " ready " "$dir/log" && break; sleep 0.5; done
  callgrind_control -i on $pid > /dev/null 2>&1
  local out; out=$("$BIN/tradsys-bench" gateway --addr "$OE" --pings 1 --burst "$burst" --core 1 2>&1 | grep "orders/s")
  # Dump 1 (cg.PID.1-*): the burst. With shipping, dump 2 (cg.PID.2-*):
  # from there until JetStream acknowledged every record (the shipper's
  # share is dump 1 + dump 2; the shard's is dump 1, as without shipping).
  callgrind_control -d $pid > /dev/null 2>&1
  if [ "$cfg" = ship ]; then wait_shipped "$burst"; callgrind_control -d $pid > /dev/null 2>&1; fi
  local counts; counts=$(curl -s "http://$ADMIN/metrics" | grep -E '^tradsys_latency_seconds_count|^tradsys_replication_(shipped|journal_seq)' | sed -e 's/tradsys_latency_seconds_count{shard="0",stage="\([a-z_]*\)"}/\1/' | tr '\n' ' ')
  kill -INT $pid
  # Under valgrind a gateway with shipping on has been seen never to finish
  # its graceful stop (every thread waiting on valgrind's lock, the shard
  # in io_uring_enter): the counts are dumped already, so it is killed.
  for _ in $(seq 1 60); do kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  kill -0 $pid 2>/dev/null && { echo "   (no clean stop under valgrind in 30 s: SIGKILL)"; kill -KILL $pid; }
  wait $pid 2>/dev/null
  if [ -n "${NATS_PID:-}" ]; then kill -INT "$NATS_PID"; wait "$NATS_PID"; NATS_PID=; fi
  echo "== $cfg burst=$burst load=$(cut -d' ' -f1 /proc/loadavg) $out"
  echo "   metrics: $counts"
  local f role; for f in "$dir"/cg."$pid".1-*; do
    role=other
    grep -q "shard::reactor::executor::run_ready" "$f" && role=shard
    grep -q "async_nats" "$f" && role=shipper
    echo "   thread $(basename "$f") ($role): total_ir $(grep summary: "$f" | cut -d' ' -f2)"
    local g=${f/.1-/.2-}
    [ -f "$g" ] && echo "   thread $(basename "$g") ($role, after the burst): total_ir $(grep summary: "$g" | cut -d' ' -f2)"
    [ $role = shard ] && python3 "$HERE/callgrind-rdtsc.py" "$BIN/tradsys" "$f" | sed 's/^/     /'
  done
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP/$cfg-$burst"; cp "$dir"/cg."$pid".[12]-* "$KEEP/$cfg-$burst/"; fi
  rm -rf "$dir"
}

start_nats() { # dir: one JetStream server, R1, store on local disk
  printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s/nats" }\n' "$NATS_PORT" "$1" > "$1/nats.conf"
  nats-server -c "$1/nats.conf" > "$1/nats.log" 2>&1 &
  NATS_PID=$!
  for _ in $(seq 1 100); do grep -q "Server is ready" "$1/nats.log" && break; sleep 0.1; done
}

wait_shipped() { # burst: until JetStream has acknowledged every order's record
  local m s j
  for _ in $(seq 1 1200); do
    m=$(curl -s "http://$ADMIN/metrics")
    s=$(echo "$m" | grep -E '^tradsys_replication_shipped_seq' | awk '{print $2}')
    j=$(echo "$m" | grep -E '^tradsys_replication_journal_seq' | awk '{print $2}')
    [ -n "$s" ] && [ "$s" -ge "$1" ] && [ "$s" = "$j" ] && return
    sleep 0.5
  done
  echo "   shipper did not catch up: shipped $s of $j"
}

for cfg in $CONFIGS; do
  for burst in "$B1" "$B2"; do run "$cfg" "$burst"; done
done
