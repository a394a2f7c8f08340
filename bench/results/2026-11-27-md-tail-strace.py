#!/usr/bin/env python3
"""Per trade, what the gateway's shard did, from `strace -ttt -T -e
trace=io_uring_enter` of its shard thread during `tradsys-bench md`'s
latency phase (2026-11-27-md-tail-strace.sh).

A trade's work starts when a parked enter (min_complete 1) returns and the
next enter submits at least MIN_SENDS entries (the order's turn: its ack
and the first sends); it ends with the last enter before the shard parks
again for at least PARK_S (the 5 ms ticker's wait) in an enter that
submits less than MIN_SENDS. Printed: how many
enters (loop turns) that took, and the time from the parked enter's return
(the order's receipt, within the turn's start) to the end of the last
enter (the gateway's last send handed to the kernel and done: loopback
sends complete inline). That is the gateway's side of the bench's figure;
the rest, to the last subscriber's read, is the load generator's reader.
"""
import re
import sys

MIN_SENDS = 30
PARK_S = 0.001

rows = []
for line in open(sys.argv[1]):
    m = re.match(r"(\d+\.\d+) io_uring_enter\(\d+, (\d+), (\d+), .*= (-?\d+).*<([\d.]+)>", line)
    if m:
        rows.append((float(m.group(1)), int(m.group(2)), int(m.group(3)), float(m.group(5))))

def parked(row):
    """An enter that waited (min_complete 1) long, submitting little."""
    _, sub, wait, dur = row
    return wait == 1 and sub < MIN_SENDS and dur >= PARK_S


spans, turns = [], []
i = 1
while i < len(rows):
    start_at, sub, wait, _ = rows[i]
    prev = rows[i - 1]
    if sub >= MIN_SENDS and prev[2] == 1:
        begin = prev[0] + prev[3]
        j = i
        while j + 1 < len(rows) and not parked(rows[j + 1]):
            j += 1
        end = rows[j][0] + rows[j][3]
        spans.append((end - begin) * 1e3)
        turns.append(j - i + 1)
        i = j + 1
    else:
        i += 1

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]

if not spans:
    sys.exit("no trade found")
print(
    "trades %d: enters per trade p50 %d max %d; receipt to last send ms p50 %.1f p90 %.1f p99 %.1f max %.1f"
    % (len(spans), pct(turns, 0.5), max(turns), pct(spans, 0.5), pct(spans, 0.9), pct(spans, 0.99), max(spans))
)
