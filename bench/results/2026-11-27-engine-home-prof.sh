#!/bin/bash
# cachegrind slopes per timed command of one book's replay (issue 15):
#   prof.sh BENCH OUTDIR [SYMBOLS]
# The last level is modeled as LLSIZE bytes (default 32 MiB; session 9 used
# LLSIZE=4194304, the 4 MiB L2 of its host, whose 300 MiB L3 holds every
# book). cachegrind models no hardware prefetcher, and its timing-free
# model cannot show a miss a software prefetch overlaps: such a miss still
# counts here.
# SIM=branch simulates branch prediction instead of the caches (session 10:
# conditional and indirect branches and their mispredictions, Bc Bcm Bi Bim,
# per timed command).
B=$1; O=$2; S=${3:-100}; mkdir -p $O
for n in 100000 200000; do for book in none tradsys matchcore; do
  if [ "${SIM:-cache}" = branch ]; then
    SIMARGS=(--cache-sim=no --branch-sim=yes)
  else
    SIMARGS=(--cache-sim=yes --D1=32768,8,64 --LL=${LLSIZE:-33554432},16,64 --I1=32768,8,64)
  fi
  valgrind --tool=cachegrind "${SIMARGS[@]}" \
    --cachegrind-out-file=$O/$book.$n.cg $B engine --peers --symbols $S --peer-ops $n --profile-book $book > $O/$book.$n.txt 2>&1
done; done
python3 - "$O" <<'PY'
import sys
o=sys.argv[1]
def tot(f):
    ev=None
    for line in open(f):
        if line.startswith('events:'): ev=line.split()[1:]
        if line.startswith('summary:'): return dict(zip(ev,map(int,line.split()[1:])))
t={(b,n):tot(f"{o}/{b}.{n}.cg") for b in ['none','tradsys','matchcore'] for n in [100000,200000]}
for b in ['tradsys','matchcore']:
    d={k:((t[(b,200000)][k]-t[('none',200000)][k])-(t[(b,100000)][k]-t[('none',100000)][k]))/100000 for k in t[(b,100000)]}
    if 'D1mr' not in d:
        print(f"{b:10s} per timed command: " + ' '.join(f"{k}={v:.2f}" for k, v in d.items()))
        continue
    print(f"{b:10s} per timed command: Ir={d['Ir']:.0f} D1mr={d['D1mr']:.2f} D1mw={d['D1mw']:.2f} DLmr={d['DLmr']:.2f} DLmw={d['DLmw']:.2f} LLmiss={d['DLmr']+d['DLmw']:.2f}")
PY
