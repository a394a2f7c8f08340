#!/bin/bash
# The shard thread's on-CPU time per order in a normal (not valgrind) run,
# split into user and system time, to turn callgrind's instructions per
# order into time (the shard's user-mode IPC). idle = "park": the shard
# runs only when it has work. Configs alternate in each round.
# Config `ship`: on16 with shipping to a local NATS server (R1); it also
# prints the shipper thread's on-CPU time per record, from before the
# burst until JetStream acknowledged the last record.
# usage: 2026-11-27-capture-cpu.sh BIN_DIR SRC ROUNDS BURST [CONFIGS]
set -u
BIN=$1; SRC=$2; ROUNDS=${3:-3}; BURST=${4:-1000000}; CONFIGS=${5:-off on16 on1}
OE=127.0.0.1:17111; ADMIN=127.0.0.1:17191; NATS_PORT=17232
TCK=$(getconf CLK_TCK)
telemetry() {
  case $1 in
    off) printf 'latency_capture = false\n' ;;
    on1) printf 'latency_capture = true\ncommand_sample_every = 1\n' ;;
    *) printf 'latency_capture = true\ncommand_sample_every = 16\n' ;;
  esac
}
cpu() { # pid tid -> "on_cpu_ns utime_ticks stime_ticks"
  local s; s=$(cut -d' ' -f1 "/proc/$1/task/$2/schedstat")
  echo "$s $(sed 's/.*) //' "/proc/$1/task/$2/stat" | cut -d' ' -f12,13)"
}
procticks() { # pid -> user + system ticks of every thread of the process
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
run() { # round config
  local dir; dir=$(mktemp -d /tmp/capcpu.XXXX)
  sed -e "s|dir = \"./data\"|dir = \"$dir/data\"|" -e 's|idle = "spin"|idle = "park"|' \
      -e "s|127.0.0.1:7001|$OE|" -e 's|127.0.0.1:7002|127.0.0.1:17112|' \
      -e "s|127.0.0.1:9090|$ADMIN|" "$SRC/configs/bench.toml" > "$dir/bench.toml"
  printf '\n[telemetry]\n%s' "$(telemetry "$2")" >> "$dir/bench.toml"
  local nats=
  if [ "$2" = ship ]; then
    printf 'listen: 127.0.0.1:%s\njetstream { store_dir: "%s/nats" }\n' "$NATS_PORT" "$dir" > "$dir/nats.conf"
    nats-server -c "$dir/nats.conf" > "$dir/nats.log" 2>&1 &
    nats=$!
    for _ in $(seq 1 100); do grep -qs "Server is ready" "$dir/nats.log" && break; sleep 0.1; done
    printf '\n[replication]\nnats_urls = ["nats://127.0.0.1:%s"]\nreplicas = 1\n' "$NATS_PORT" >> "$dir/bench.toml"
  fi
  "$BIN/tradsys" serve --config "$dir/bench.toml" > "$dir/log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do grep -q " ready " "$dir/log" && break; sleep 0.1; done
  local tid; tid=$(grep -l "^shard-0$" /proc/$pid/task/*/comm | head -1 | cut -d/ -f5)
  local b a out sb sa
  local stid; stid=$(grep -l "^shipper$" /proc/$pid/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5)
  [ -n "$stid" ] && read -r -a sb <<< "$(cpu $pid "$stid")"
  local nb=0; [ -n "$nats" ] && nb=$(procticks "$nats")
  read -r -a b <<< "$(cpu $pid "$tid")"
  out=$("$BIN/tradsys-bench" gateway --addr "$OE" --pings 1 --burst "$BURST" --core 1 2>&1 | grep "orders/s")
  read -r -a a <<< "$(cpu $pid "$tid")"
  local counts; counts=$(curl -s "http://$ADMIN/metrics" | grep -E '^tradsys_latency_seconds_count' | sed -e 's/tradsys_latency_seconds_count{shard="0",stage="\([a-z_]*\)"}/\1/' | tr '\n' ' ')
  local on=$(( a[0] - b[0] )) ut=$(( a[1] - b[1] )) st=$(( a[2] - b[2] ))
  echo "r$1 $2 load=$(cut -d' ' -f1 /proc/loadavg) on_cpu_ns_per_order=$(( on / BURST )) user_ns_per_order=$(( ut * 1000000000 / TCK / BURST )) sys_ns_per_order=$(( st * 1000000000 / TCK / BURST )) $out"
  echo "   counts: $counts"
  if [ -n "$stid" ]; then
    local shipped
    for _ in $(seq 1 600); do
      shipped=$(curl -s "http://$ADMIN/metrics" | grep -E '^tradsys_replication_shipped_seq' | awk '{print $2}')
      [ -n "$shipped" ] && [ "$shipped" -ge "$BURST" ] && break
      sleep 0.1
    done
    read -r -a sa <<< "$(cpu $pid "$stid")"
    local na; na=$(procticks "$nats")
    echo "   shipper: shipped_seq=$shipped on_cpu_ns_per_record=$(( (sa[0] - sb[0]) / BURST )) user_ns_per_record=$(( (sa[1] - sb[1]) * 1000000000 / TCK / BURST )) sys_ns_per_record=$(( (sa[2] - sb[2]) * 1000000000 / TCK / BURST )) nats_server_ns_per_record=$(( (na - nb) * 1000000000 / TCK / BURST ))"
  fi
  kill -INT $pid; wait $pid
  if [ -n "$nats" ]; then kill -INT "$nats"; wait "$nats"; fi
  rm -rf "$dir"
}
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONFIGS; do run "$r" "$c"; done
done
