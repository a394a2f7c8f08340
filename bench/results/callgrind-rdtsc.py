#!/usr/bin/env python3
"""Reads one callgrind thread file (made with --dump-instr=yes
--compress-pos=no --compress-strings=no) and prints its total Ir and how
many times each `rdtsc` of the binary ran (the clock reads of latency
capture, which are inlined, so they have no call count of their own),
each site named by the function it is inlined into.

usage: callgrind-rdtsc.py BINARY CALLGRIND_FILE
"""
import subprocess
import sys
from collections import Counter

binary, path = sys.argv[1], sys.argv[2]
dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", binary],
                     capture_output=True, text=True, check=True).stdout
sites = {int(l.split(":")[0], 16) for l in dis.splitlines() if l.rstrip().endswith("rdtsc")}
assert sites, "no rdtsc in the binary"

ob, fn, callee, skip, total = None, None, None, False, None
runs = Counter()
# The shard's 5 ms ticker (runtime.rs tick_loop) runs by wall time, which
# valgrind stretches by a factor that depends on the host's load: its
# inclusive cost is reported apart so that it can be taken out.
tick_calls, tick_ir = 0, 0
# Calls that count the shard's I/O turns: batching differs between runs
# (under valgrind more so), and each write or reactor wait has its own cost.
COUNTED = ("output::<impl tradsys::shard::core::ShardCore>::take_output",
           "tradsys::shard::reactor::executor::run_ready",
           "engine_batch::<impl tradsys::shard::core::ShardCore>::flush_batch")
counted = Counter()
with open(path) as f:
    for line in f:
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith("summary:"):
            summary = [int(v) for v in line.split()[1:]]
            total = summary[0]
        elif line.startswith("ob="):
            ob = line[3:].strip()
        elif line.startswith("fn="):
            fn = line[3:].strip()
        elif line.startswith("cfn="):
            callee = line[4:].strip()
        elif line.startswith("calls="):
            skip = int(line.split()[0][6:])  # the next line: the call's inclusive cost
        elif line.startswith("0x"):
            if skip:
                for name in COUNTED:
                    if callee.endswith(name):
                        counted[name.split("::")[-1]] += skip
                if "tick_loop" in callee and "tick_loop" not in fn:
                    tick_calls += skip
                    tick_ir += int(line.split()[2])
                skip = False
                continue
            addr, _line, ir = line.split()[:3]
            if ob == binary and int(addr, 16) in sites:
                runs[int(addr, 16)] += int(ir)
assert total is not None, "no summary line"


def site_name(addr):
    """Where the read is inlined: the crate's own frames around the clock,
    innermost first (the clock itself and `stamp` left out)."""
    out = subprocess.run(["addr2line", "-e", binary, "-f", "-i", "-C", hex(addr)],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    frames = []
    for name, where in zip(out[0::2], out[1::2]):
        if "tradsys::" not in name or "telemetry::clock" in name:
            continue
        if "::" in where or "/src/" not in where:
            continue
        frames.append(f"{name.split('::')[-1]}@{where.split('/src/')[-1]}")
    return " < ".join(frames[:3]) if frames else out[0]


print(f"total_ir {total}")
if len(summary) > 1:  # --cache-sim=yes: every event of the thread
    print("events " + " ".join(f"{e}={v}" for e, v in zip(events, summary)))
print(f"tick_polls {tick_calls} tick_ir {tick_ir}")
print(f"net_ir {total - tick_ir}")
print("calls " + " ".join(f"{n.split('::')[-1]}={counted[n.split('::')[-1]]}" for n in COUNTED))
print(f"rdtsc {sum(runs.values())}")
for addr, n in sorted(runs.items(), key=lambda kv: -kv[1]):
    print(f"  rdtsc_site {n} {site_name(addr)}")
