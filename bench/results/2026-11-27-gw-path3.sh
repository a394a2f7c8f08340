#!/bin/bash
# Issue 15 item 3, the shard's per-request cost outside the engine, counted:
# the realistic mix of 2026-11-27-gw-path2.sh (4 sessions x 64 in flight;
# 45% passive new near the touch, 30% cancels, 15% replaces, 10% takes;
# up to 4,000 orders resting per session), one shard, closed loop over TCP.
#
#   2026-11-27-gw-path3.sh callgrind BIN_DIR OUT_DIR
#     2026-11-27-gw-path2.sh callgrind (the gateway with idle = "park"
#     under callgrind --separate-threads=yes, counters zeroed after a 2 s
#     warm-up, 5 s counted), then the shard thread's instructions by stage,
#     inclusive, per request and per call (stages as gw-path2 defined them:
#     read = the read handler minus flush_batch; engine = Engine::process
#     minus the router's report and emit; reports = Router::report; market
#     data = MdHub::on_public; journal = journal_append).
#   2026-11-27-gw-path3.sh stages CALLGRIND_FILE REQUESTS
#     the stage lines alone, for a file already written.
#   2026-11-27-gw-path3.sh ab ROUNDS BEFORE_DIR AFTER_DIR
#     2026-11-27-gw-path2.sh ab: the two builds alternating, the shard
#     thread's CPU per request (schedstat, park), `uptime` beside each run.
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd)

stages() { # callgrind_file requests
  python3 - "$1" "$2" << 'EOF'
import collections, re, sys
names, calls, incl = {}, collections.Counter(), collections.Counter()
def name(s):
    m = re.match(r'\((\d+)\)(?: (.*))?', s)
    if not m:
        return s
    if m.group(2):
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), s)
callee, pending, total = None, None, 0
for line in open(sys.argv[1]):
    if line.startswith('fn='):
        name(line[3:].strip())
    elif line.startswith('cfn='):
        callee = name(line[4:].strip())
    elif line.startswith('calls='):
        pending = int(line[6:].split()[0])
    elif pending is not None:
        calls[callee] += pending
        incl[callee] += int(line.split()[1])
        pending = None
    elif line.startswith('summary:'):
        total = int(line.split()[1])
n = int(sys.argv[2])
def find(part):
    hits = [f for f in incl if part in f]
    assert len(hits) == 1, (part, hits)
    return hits[0]
f = {k: find(v) for k, v in {
    'feed': 'shard::runtime::feed::{{closure}}',
    'flush': 'ShardCore>::flush_batch',
    'process': 'matcher::Engine::process',
    'emit': 'EventSink>::emit',
    'report': 'router::Router::report',
    'md': 'MdHub::on_public',
    'journal': 'ShardCore>::journal_append',
    'deliver': 'SessionTable::deliver_report',
    'push': 'Outbox::push_report',
}.items()}
i = {k: incl[v] for k, v in f.items()}
c = {k: calls[v] for k, v in f.items()}
print(f"shard thread instructions per request: {total / n:.0f} ({total} / {n})")
rows = [
    ('read: decode, session checks, route, batch', i['feed'] - i['flush'], None),
    ('journal append', i['journal'], c['journal']),
    ('engine (without the router\'s work)', i['process'] - i['emit'] - i['report'], None),
    ('reports: route, encode into the outboxes', i['report'], c['report']),
    ('  of which SessionTable::deliver_report', i['deliver'], c['deliver']),
    ('  of which Outbox::push_report', i['push'], c['push']),
    ('market data: MdHub::on_public', i['md'], c['md']),
    ('router: a public event besides market data (emit - on_public)', i['emit'] - i['md'], c['emit']),
]
for label, ir, cn in rows:
    per_call = f", {ir / cn:.1f} per call ({cn / n:.3f} calls per request)" if cn else ""
    print(f"  {label}: {ir / n:.0f} per request{per_call}")
EOF
}

callgrind() { # bin_dir out_dir
  local out
  out=$("$REPO/bench/results/2026-11-27-gw-path2.sh" callgrind "$1" "$2")
  echo "$out" | grep -v '^  by stage'
  local answered file
  answered=$(echo "$out" | grep -o '[0-9]* answered' | cut -d' ' -f1)
  file=$(echo "$out" | grep -o "shard thread /[^:]*" | cut -d' ' -f3)
  stages "$file" "$answered"
}

case "${1:-}" in
  callgrind) shift; callgrind "$@" ;;
  stages) shift; stages "$@" ;;
  ab) shift; "$REPO/bench/results/2026-11-27-gw-path2.sh" ab "$@" ;;
  *) echo "usage: $0 callgrind BIN OUT | stages FILE REQUESTS | ab ROUNDS BEFORE AFTER" >&2; exit 2 ;;
esac
