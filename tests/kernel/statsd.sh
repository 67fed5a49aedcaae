#!/bin/bash
# nurs.statsd pushes to a statsd socket (a python3 listener) in a private
# namespace while bounded UDP traffic makes conntrack entries: the deltas
# it pushes add up to the counters the daemon logs at exit (the final push
# included), the script's counts arrive with their DogStatsD tags, no
# datagram is larger than max_packet, a reload (and a failed one) keeps
# the socket and the pushes going, and what a script that fails to load
# sent from its top level is never pushed; with nothing listening the daemon goes
# on, the errors counted; with NFQUEUE worker loops, each worker's values
# arrive and the main loop pushes every worker's counters.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
# The push itself is left untracked: the conntrack counters stand still
# once the test's own traffic is over.
collector_notrack "udp dport { 8125, 8126 }" "udp sport { 8125, 8126 }"
FLOWS=300
MAX=512

write_script() { # write_script GENERATION PORT
    cat >"$TMP/script.lua" <<LUA
local nurs = require "nurs"
local s = nurs.statsd { port = $2, interval = 0.5, tags = "dogstatsd", max_packet = $MAX }
s:gauge("generation", $1)
nurs.conntrack({ events = { "new" } }, function(rec)
  local d = rec.orig.dport
  if rec.proto == "udp" and d and d >= 20000 and d < 21000 then
    s:count("flows", 1, { proto = "udp", gen = $1 })
    s:timing("dport_ms", d - 20000)
  end
end)
LUA
}

listen() { # listen PORT OUT: a statsd socket recording to OUT, for at most 60 s
    local i
    nsx python3 "$ROOT/tests/kernel/lib/statsd_listen.py" "$1" "$2" 60 &
    PIDS+=($!)
    for ((i = 0; i < 100; i++)); do [ -e "$2" ] && break; sleep 0.05; done
    [ -e "$2" ] || fail "the listener on $1 did not start"
}
# The checks read the listener's records with lib/statsd_lines.py.
export PYTHONPATH="$ROOT/tests/kernel/lib"

listen 8125 "$TMP/got.jsonl"

write_script 1 8125
start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "listening"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" $FLOWS 1 20000 >/dev/null
sleep 1.2
pushes_before=$(grep -c '"nurs.statsd.pushes:' "$TMP/got.jsonl" || true)
write_script 2 8125
kill -HUP "$NURS_PID"
wait_log "reloaded"
sleep 1.5
# A script that sends from its top level, then fails: what it sent is
# never pushed (it did not load), and the old one goes on pushing, on the
# same socket.
cat >"$TMP/script.lua" <<LUA
local nurs = require "nurs"
local s = nurs.statsd { port = 8125, interval = 0.5, tags = "dogstatsd", max_packet = $MAX }
s:gauge("generation", 99)
s:count("flows", 7, { proto = "udp", gen = 99 })
for _ = 1, 4000 do s:count("filler") end -- more than may wait (64 KiB)
error("this script fails after sending")
LUA
n=$(wc -l <"$TMP/got.jsonl")
kill -HUP "$NURS_PID"
wait_log "reload of .* failed"
wait_lines "$TMP/got.jsonl" $((n + 2)) 5 || fail "no push after a failed reload"
kill -USR1 "$NURS_PID"
wait_log "counters statsd:"
stop_nurs
grep "counters conntrack:" "$TMP/nurs.log" | tail -1 >"$TMP/final"
grep "counters statsd:" "$TMP/nurs.log" | tail -1 >"$TMP/final-statsd"
echo "daemon: $(cat "$TMP/final")"

python3 - "$TMP/got.jsonl" "$TMP/final" "$FLOWS" "$MAX" "$pushes_before" "$TMP/final-statsd" <<'PY' || fail "what statsd got disagrees with the daemon"
import sys
from statsd_lines import datagrams, lines
got = datagrams(sys.argv[1])
final = open(sys.argv[2]).read().split("counters conntrack: ")[1].split()
fields = dict(kv.split("=") for kv in final)
flows, most, before = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
assert got, "no datagram"
big = [d["len"] for d in got if d["len"] > most]
assert not big, f"datagrams larger than {most}: {big}"
ports = {d["sport"] for d in got}
assert len(ports) == 1, f"the socket changed: source ports {ports}"

sums, last, script = {}, {}, {}
for d in got:
    for name, value, typ, tags, line in lines(d):
        if name.startswith("nurs.conntrack.") and tags.get("resource") == "conntrack":
            k = name[len("nurs.conntrack."):]
            if typ == "c":
                sums[k] = sums.get(k, 0) + int(value)
            else:
                assert typ == "g", line
                last[k] = int(value)
        elif name in ("nurs.flows", "nurs.dport_ms", "nurs.generation"):
            script.setdefault((name, typ, tags.get("gen")), []).append(float(value))
bad = []
for k, v in fields.items():
    pushed = last[k] if k in last else sums.get(k, 0)
    print(f"conntrack {k}: daemon {v}, pushed {pushed}")
    if pushed != int(v):
        bad.append(k)
assert not bad, bad
assert int(fields["in"]) >= flows and fields["overruns"] == "0", fields

n = sum(script.get(("nurs.flows", "c", "1"), []))
assert n == flows, f"script counts with tags gen:1 proto:udp: {n}, want {flows}"
t = sorted(script.get(("nurs.dport_ms", "ms", None), []))
assert t == list(range(flows)), "timings"
g = script.get(("nurs.generation", "g", None), [])
assert g[:1] == [1] and g[-1] == 2, f"generation gauges {g}"
assert 99 not in g and ("nurs.flows", "c", "99") not in script, "a script that failed to load was pushed"
after = sum(1 for d in got if "nurs.statsd.pushes:" in d["text"])
assert after >= before + 2, f"pushes {before} before the reload, {after} in all"
statsd = dict(kv.split("=") for kv in open(sys.argv[6]).read().split("counters statsd: ")[1].split())
waited, refused = int(statsd["not_loaded"]), int(statsd["staged_full"])
assert refused > 0 and waited + refused == 4002, f"the failed script's 4002 lines: not_loaded + staged_full {statsd}"
assert not any(name == "nurs.filler" for d in got for name, *_ in lines(d)), "filler lines pushed"
print(f"statsd: {len(got)} datagrams, at most {max(d['len'] for d in got)} bytes, "
      f"{sum(d['len'] for d in got)} bytes in all, one source port; flows {n}")
PY

# Nothing listening: the daemon goes on, every lost datagram counted.
write_script 3 8126
: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "listening"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" 20 0.5 20000 >/dev/null
sleep 2
kill -0 "$NURS_PID" || fail "nurs-lua stopped with nothing listening"
kill -USR1 "$NURS_PID"
wait_log "counters statsd:"
line=$(grep "counters statsd:" "$TMP/nurs.log" | tail -1)
stop_nurs
grep -q "connection refused" "$TMP/nurs.log" || fail "no word of the refused datagrams"
python3 - "$line" <<'PY' || fail "lost datagrams not counted: $line"
import sys
f = dict(kv.split("=") for kv in sys.argv[1].split("counters statsd: ")[1].split())
assert int(f["refused"]) >= 2 and int(f["errors"]) >= 2, f
assert int(f["in"]) == int(f["delivered"]) + int(f["dropped"]), f
print("nothing listening:", sys.argv[1].split(": ", 1)[1])
PY
# Worker loops: each sends its script's values; the main loop pushes the
# counters of every worker's queue.
[ "$(nproc)" -ge 2 ] || { echo "skip: workers need 2 CPUs"; echo "ok: statsd"; exit 0; }
nsx iptables -A OUTPUT -p udp --dport 9990:9993 -j NFQUEUE --queue-balance 0:1 \
    --queue-cpu-fanout --queue-bypass
cat >"$TMP/workers.lua" <<'LUA'
local nurs = require "nurs"
local s = nurs.statsd { port = 8127, interval = 0.3, tags = "dogstatsd" }
nurs.nfqueue({ queue = "0-1", workers = 2 }, function(rec)
  s:count("pkts", 1, { w = nurs.worker.id })
  return "accept"
end)
LUA
listen 8127 "$TMP/workers.jsonl"
: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" "$TMP/workers.lua"
wait_log "2 worker loops run the script" 30
W=500
nsx taskset -c 0 timeout 60 python3 "$ROOT/tests/kernel/lib/nfq_udp.py" $W 0.5 9990 >"$TMP/cpu0.out" &
a=$!
nsx taskset -c 1 timeout 60 python3 "$ROOT/tests/kernel/lib/nfq_udp.py" $W 0.5 9992 >"$TMP/cpu1.out" &
wait $a $!
grep -q "^9990 $W $W" "$TMP/cpu0.out" && grep -q "^9992 $W $W" "$TMP/cpu1.out" ||
    fail "queued packets lost: $(cat "$TMP/cpu0.out" "$TMP/cpu1.out")"
sleep 1.5 # workers publish their counters every second; a push follows
stop_nurs
python3 - "$TMP/workers.jsonl" $((2 * W)) <<'PY' || fail "worker loops: what statsd got is wrong"
import sys
from statsd_lines import datagrams, lines
got = datagrams(sys.argv[1])
want = int(sys.argv[2])
per_worker, accepted = {}, {}
for d in got:
    for name, value, typ, tags, _ in lines(d):
        if name == "nurs.pkts":
            per_worker[tags["w"]] = per_worker.get(tags["w"], 0) + int(value)
        elif name == "nurs.nfqueue.accept" and typ == "c":
            accepted[tags.get("worker")] = accepted.get(tags.get("worker"), 0) + int(value)
assert sum(per_worker.values()) == want, f"script counts per worker {per_worker}, want {want} in all"
assert set(per_worker) <= {"1", "2"} and len(per_worker) == 2, f"workers that sent: {per_worker}"
assert sum(accepted.values()) == want and None not in accepted, f"accept pushed per worker {accepted}"
print(f"workers: script counts {per_worker}, accept pushed {accepted}")
PY
echo "ok: statsd ($(cat "$TMP/final-statsd" | sed 's/.*counters statsd: //'))"
