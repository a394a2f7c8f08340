#!/bin/bash
# Instructions per timed command of tradsys's peers replay (issue 15), by callgrind:
# deterministic for one binary, whatever else the host does. The slope between
# 100k and 200k timed commands, minus the same slope of `--profile-book none`
# (the stream and the translations), cancels everything but the replay.
#   2026-11-27-engine-icount.sh BENCH_BIN SYMBOLS
B=$1; S=$2; D=$(mktemp -d)
for n in 100000 200000; do for book in none tradsys; do
  valgrind --tool=callgrind --callgrind-out-file=$D/$book.$n.cg $B engine --peers --symbols $S --peer-ops $n --profile-book $book > /dev/null 2>&1
done; done
python3 - $D <<'PY'
import sys,re
d=sys.argv[1]
def tot(f):
    for l in open(f):
        if l.startswith('summary:') or l.startswith('totals:'): return int(l.split()[1])
t={(b,n):tot(f"{d}/{b}.{n}.cg") for b in ['none','tradsys'] for n in [100000,200000]}
print(f"Ir per timed command: {((t['tradsys',200000]-t['none',200000])-(t['tradsys',100000]-t['none',100000]))/100000:.1f}")
PY
rm -rf "$D"
