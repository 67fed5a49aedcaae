#!/bin/bash
# Losing nothing silently. With a deliberately tiny receive buffer:
#  - reliable = true: a flood of create/delete pairs loses no DESTROY event
#    (the kernel keeps and resends them) and counts no overrun;
#  - without it, the overruns are counted, and resync = true lists the
#    table again: every entry alive (conntrack -L) is known again, and the
#    lost flows are exactly the known entries whose DESTROY the kernel
#    dropped; an IPFIX exporter fed by the source reports them in its
#    reliability record (tshark: notSentFlowTotalCount), and nfdump reads
#    the stream without a sequence failure.
. "$(dirname "$0")/lib/common.sh"
. "$ROOT/tests/kernel/lib/flow.sh"
ns_setup
GEN="$(dirname "$NURS")/tools/ct-gen"
N=20000

# 1. reliable: nothing lost with a 64 KiB buffer
cat >"$TMP/reliable.lua" <<'LUA'
local nurs = require "nurs"
local n = 0
nurs.conntrack({ events = { "destroy" }, reliable = true, rcvbuf = 65536, rcvbuf_max = 65536,
                 name = "rel" }, function() n = n + 1 end)
nurs.every(0.2, function() io.stdout:write(n, "\n") io.stdout:flush() end)
LUA
start_nurs_log "$TMP/rel.log" "$TMP/reliable.lua"
wait_grep "$TMP/rel.log" "listening" 10 || fail "no start"
nsx "$GEN" "$N" >/dev/null
for ((i = 0; i < 100; i++)); do [ "$(tail -1 "$TMP/rel.log.stdout")" = "$N" ] && break; sleep 0.2; done
stop_pid "$NURS_PID"
[ "$(tail -1 "$TMP/rel.log.stdout")" = "$N" ] || fail "reliable: $(tail -1 "$TMP/rel.log.stdout") of $N DESTROY events"
[ "$(counter "$TMP/rel.log" rel overruns)" = 0 ] || fail "reliable: overruns counted"

# 2. resync: 1000 long-lived entries known, half of them deleted during a flood
cat >"$TMP/fill.lua" <<'LUA'
local nurs = require "nurs"
local ct, done = nurs.ct(), 0
for a = 0, 3 do for b = 0, 249 do
  ct:create({ proto = "udp", orig = { src = "10.99." .. a .. "." .. b, dst = "10.0.1.1", sport = 1000, dport = 53 },
              timeout = 600 }, function(ok, err)
    assert(ok, err) done = done + 1 if done == 1000 then nurs.stop() end end)
end end
LUA
nsx timeout 20 "$NURS" "$TMP/fill.lua" 2>>"$TMP/nurs.log" || fail "fill"
[ "$(nsx conntrack -C)" = 1000 ] || fail "fill: $(nsx conntrack -C) entries"

collector_notrack "udp dport 4739" "udp dport 9995"
start_capture "$TMP/ipfix.pcap" udp port 4739
# A listener, so that no datagram is refused (a refused one is a gap).
nsx timeout 120 socat -u UDP4-RECV:4739,bind=127.0.0.1 /dev/null &
PIDS+=($!)
start_nfcapd "$TMP/nfcapd" 9995
cat >"$TMP/resync.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[1] }
local ipfix = nurs.ipfix { collectors = { "127.0.0.1:4739", "127.0.0.1:9995" }, refresh_seconds = 0.2, domain = 7 }
nurs.conntrack({ events = { "new", "destroy" }, dump = true, resync = true, resync_interval = 0.3,
                 rcvbuf = 65536, rcvbuf_max = 65536, name = "rs" }, function(rec)
  out:write { event = rec.event, id = rec.id }
end):on(ipfix)
LUA
start_nurs_log "$TMP/rs.log" "$TMP/resync.lua" "$TMP/events.json"
wait_grep "$TMP/rs.log" "listening" 10 || fail "no start"
wait_counter "$NURS_PID" "$TMP/rs.log" rs known 1000
nsx "$GEN" "$N" >/dev/null &
gen=$!
nsx conntrack -D -s 10.99.0.0/23 >/dev/null 2>&1 || true
wait $gen
# Settled: no overrun and no resync for 2 s.
prev=""
for ((i = 0; i < 40; i++)); do
    kill -USR1 "$NURS_PID"; sleep 0.5
    now="$(counter "$TMP/rs.log" rs overruns) $(counter "$TMP/rs.log" rs resyncs)"
    [ "$now" = "$prev" ] && break
    prev=$now
done
sleep 1
nsx conntrack -L -o id 2>/dev/null | grep -o 'id=[0-9]*' | cut -d= -f2 >"$TMP/alive"
stop_pid "$NURS_PID"
stop_capture
stop_nfcapd
overruns=$(counter "$TMP/rs.log" rs overruns)
lost=$(counter "$TMP/rs.log" rs lost_flows)
known=$(counter "$TMP/rs.log" rs known)
[ "$overruns" -gt 0 ] || fail "the tiny buffer did not overrun: the test proves nothing"
[ "$(counter "$TMP/rs.log" rs resyncs)" -gt 0 ] || fail "no resync after $overruns overruns"
[ "$known" = "$(wc -l <"$TMP/alive")" ] || fail "known $known, conntrack -L has $(wc -l <"$TMP/alive")"
python3 - "$TMP/events.json" "$TMP/alive" "$lost" <<'PY' || fail "lost flows"
import json, sys
known = set()
lost_seen = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["event"] == "destroy":
        known.discard(r["id"])
    else:
        known.add(r["id"])
alive = {int(x) for x in open(sys.argv[2]) if x.strip()}
assert alive <= known, f"{len(alive - known)} live entries never listed again"
dropped = len(known - alive)   # known, not alive, their DESTROY never delivered
assert dropped == int(sys.argv[3]), f"the kernel dropped the DESTROY of {dropped} known entries; lost_flows says {sys.argv[3]}"
print(f"{dropped} lost flows, {len(alive)} alive", file=sys.stderr)
PY
[ "$lost" -gt 0 ] || fail "no known entry was lost: the test proves nothing"
python3 "$FLOWCHECK" stream --capture "$TMP/ipfix.pcap" --port 4739 --version 10 --notsent "$lost" \
    >/dev/null || fail "tshark: the reliability record does not say $lost"
tshark -r "$TMP/ipfix.pcap" -d udp.port==4739,cflow -T fields -e cflow.notsent_flows 2>/dev/null |
    grep -q . || fail "tshark decodes no notSentFlowTotalCount"
# nfdump: the exporter with its observation domain, read without a
# sequence error or a bad packet (it has no use for the options records).
grep -q "New ipfix exporter: .*Observation domain 7" "$TMP/nfcapd.log" || fail "nfcapd: $(cat "$TMP/nfcapd.log")"
grep -q "Sequence Errors: 0, Bad Packets: 0" "$TMP/nfcapd.log" || fail "nfcapd: $(tail -3 "$TMP/nfcapd.log")"
nfdump -E "$(ls "$TMP"/nfcapd/nfcapd.2* | head -1)" 2>&1 | grep -q "version: 10, ID:  7" ||
    fail "nfdump -E: $(nfdump -E "$TMP"/nfcapd/nfcapd.2* 2>&1)"
echo "PASS ct-resync ($overruns overruns, $lost lost flows)"
