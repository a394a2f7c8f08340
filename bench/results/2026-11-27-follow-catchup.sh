#!/bin/bash
# A follower from scratch catching up on a filled stream, one R1 nats-server
# (issue 16, follower speed). `fill` starts the server and a primary
# (configs/bench.toml, shipping) and puts 4 s of 100,000 orders/s on the
# stream; `follow BINDIR N` then runs `BINDIR/tradsys follow` from an empty
# journal until it applied N records (the primary's
# tradsys_replication_journal_seq) and prints the wall time and the CPU time
# of the follower's main thread (its tokio thread: NATS, replicas, drop copy)
# between its `follower: consuming` line and record N, per record. Any
# further arguments wrap the follower (perf record ...).
set -u
D=/tmp/fsp
case $1 in
fill)
	BIN=${2:-/work/bin-now}
	mkdir -p $D/nats $D/primary
	nats-server -js -p 14222 -sd $D/nats/store >$D/nats/log 2>&1 &
	sleep 1
	sed -e "s|dir = \"./data\"|dir = \"$D/primary/data\"|" -e 's|7001|17001|;s|7002|17002|;s|9090|19090|' configs/bench.toml >$D/primary.toml
	printf '\n[replication]\nnats_urls = ["nats://127.0.0.1:14222"]\nreplicas = 1\nchecksum_interval_ms = 1000\nstream = "P"\nsubject_prefix = "p.journal"\ndrop_copy_stream = "PDC"\ndrop_copy_prefix = "p.dropcopy"\n' >>$D/primary.toml
	"$BIN/tradsys" serve --config $D/primary.toml >$D/primary/log 2>&1 &
	for _ in $(seq 1 100); do grep -q "ready" $D/primary/log && break; sleep 0.1; done
	"$BIN/tradsys-bench" orders --addr 127.0.0.1:17001 --rate 100000 --connections 4 --accounts 1,2,3,4 --symbols 1,2,3,4 --warmup 1 --duration 3 | tail -2
	sleep 10
	curl -s localhost:19090/metrics | grep -E '^tradsys_replication_(journal|shipped)_seq'
	;;
follow)
	BIN=$2
	N=$3
	shift 3
	rm -rf $D/f
	mkdir -p $D/f
	sed -e "s|primary/data|f/data|" -e 's|17001|0|;s|17002|0|;s|19090|0|' $D/primary.toml >$D/f.toml
	t0=$(date +%s.%N)
	l0=$(cut -d' ' -f1 /proc/loadavg)
	"$@" "$BIN/tradsys" follow --config $D/f.toml >$D/f/log 2>&1 &
	pid=$!
	tk=$(getconf CLK_TCK)
	maincpu() { cut -d' ' -f14,15 "/proc/$pid/task/$pid/stat" | awk -v tk="$tk" '{printf "%.2f", ($1+$2)/tk}'; }
	while ! grep -q "follower: consuming" $D/f/log; do sleep 0.01; done
	c0=$(maincpu)
	while ! grep -q "applied_seq=$N " $D/f/log; do sleep 0.05; done
	c1=$(maincpu)
	t1=$(date +%s.%N)
	kill -INT $pid
	wait $pid
	echo "applied $N in $(echo "$t1 - $t0" | bc) s from start: $(echo "$N / ($t1 - $t0)" | bc) records/s; main thread CPU while consuming $(echo "$c1 - $c0" | bc) s = $(echo "($c1 - $c0) * 1000000 / $N" | bc -l | cut -c1-4) us/record; load $l0 -> $(cut -d' ' -f1 /proc/loadavg)"
	;;
esac
