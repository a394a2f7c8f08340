#!/bin/bash
# The gateway's own side of the K=1000 latency (issue 13): `strace` on the
# shard thread's io_uring_enter calls during `tradsys-bench md`'s 50
# trades/s phase, analysed per trade by 2026-11-27-md-tail-strace.py
# (enters per trade; order receipt to the end of the enter of the last
# send). strace stops the thread at each enter, so the times are inflated
# (more the more enters a trade takes); the enter count is exact.
# Usage, from the repository root: bench/results/2026-11-27-md-tail-strace.sh DIR...
# (each DIR holds tradsys and tradsys-bench).
set -u
here=$(dirname "$0")
config=$(mktemp /tmp/md-tail-strace.XXXX.toml)
sed -e 's/127.0.0.1:7001/127.0.0.1:7371/' -e 's/127.0.0.1:7002/127.0.0.1:7372/' \
    -e 's/127.0.0.1:9090/127.0.0.1:9371/' configs/bench.toml > "$config"
for dir in "$@"; do
  out=$(mktemp /tmp/md-tail-strace.XXXX.out)
  echo "== $dir (uptime: $(uptime))"
  "$dir/tradsys-bench" md --gateway-config "$config" --subscribers 1000 --no-peer \
    --oe-subscribers 0 --duration 10 --burst-deliveries 1000000 > "$out.bench" 2>&1 &
  bench=$!
  shard=""
  for _ in $(seq 200); do
    gw=$(pgrep -P "$bench" -x tradsys)
    [ -n "$gw" ] && shard=$(grep -l '^shard-0$' /proc/"$gw"/task/*/comm 2>/dev/null | cut -d/ -f5)
    [ -n "$shard" ] && break
    sleep 0.05
  done
  # The subscribers connect within a few seconds; trace from the latency
  # phase to the gateway's exit. (Detaching strace mid-run, with `timeout`,
  # left the branch's runs with a 6 s tail at the subscribers, twice, and
  # main's without: not understood, not seen with strace attached to the
  # end or without strace, so the trace stays on to the end.)
  sleep 4
  strace -ttt -T -e trace=io_uring_enter -p "$shard" -o "$out" 2>/dev/null &
  wait "$bench"
  wait
  grep -E "md-fanout" "$out.bench"
  python3 "$here/2026-11-27-md-tail-strace.py" "$out"
  [ -n "${KEEP:-}" ] && cp "$out" "$KEEP.$(basename "$dir").strace"
  rm -f "$out" "$out.bench"
done
rm -f "$config"
