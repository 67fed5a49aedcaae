#!/bin/bash
# Record a live session in a namespace (--record), replay it: the JSON of
# the replay equals the live one, line for line; tshark decodes every
# recorded frame as netlink/netfilter with no malformed frame or expert
# warning; a corrupt file is an error naming its offset.
. "$(dirname "$0")/lib/common.sh"
ns_setup

cat >"$TMP/live.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[1] }
nurs.conntrack({}, function(rec) out:write(rec) end)
LUA
cat >"$TMP/replay.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[2] }
nurs.replay({ path = arg[1] }, function(rec) out:write(rec) end)
LUA

start_nurs "$TMP/stdout" --record "$TMP/live.pcap" "$TMP/live.lua" "$TMP/live.json"
wait_log "listening"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/traffic.py" --tcp 3 --udp 3 >/dev/null
nsx ping -c 2 -i 0.2 -q 127.0.0.1 >/dev/null
nsx conntrack -F 2>/dev/null
sleep 0.5
stop_nurs
lines=$(wc -l <"$TMP/live.json")
[ "$lines" -ge 30 ] || fail "live session too small: $lines records"

timeout 60 "$NURS" "$TMP/replay.lua" "$TMP/live.pcap" "$TMP/replay.json" 2>>"$TMP/nurs.log" ||
    fail "replay failed"
cmp "$TMP/live.json" "$TMP/replay.json" || fail "replayed JSON differs from the live JSON"

frames=$(timeout 60 tshark -r "$TMP/live.pcap" -T fields -e frame.number 2>/dev/null | wc -l)
nfnl=$(timeout 60 tshark -r "$TMP/live.pcap" -Y 'netlink-netfilter' -T fields -e frame.number 2>/dev/null | wc -l)
bad=$(timeout 60 tshark -r "$TMP/live.pcap" -Y '_ws.malformed || _ws.expert.severity >= warning' \
    -T fields -e frame.number 2>/dev/null | wc -l)
[ "$frames" -gt 0 ] && [ "$frames" -eq "$nfnl" ] || fail "tshark: $nfnl of $frames frames are netlink-netfilter"
[ "$bad" -eq 0 ] || fail "tshark: $bad malformed or warning frames"

# Cut the file inside a record: a clear error naming the offset, exit 0
# after delivering what came before (the replay ends there).
size=$(stat -c %s "$TMP/live.pcap")
head -c $((size - 7)) "$TMP/live.pcap" >"$TMP/cut.pcap"
timeout 60 "$NURS" "$TMP/replay.lua" "$TMP/cut.pcap" "$TMP/cut.json" 2>"$TMP/cut.log" || true
grep -q "truncated packet at offset [0-9]*" "$TMP/cut.log" || fail "no offset in: $(cat "$TMP/cut.log")"
[ "$(wc -l <"$TMP/cut.json")" -eq "$((lines - 1))" ] || fail "records before the cut not all delivered"
echo "ok: record-replay ($lines records, $frames frames)"
