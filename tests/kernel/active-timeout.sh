#!/bin/bash
# Active timeout: one TCP connection sends known bursts over a few seconds
# while the script (ctflow9.lua's logic with a 1 s active timeout) dumps
# the table with zeroing every second. nfdump and tshark show, per
# direction, records that add up exactly to what nft counter rules on that
# connection counted, a last record equal to what `conntrack -L` showed
# just before the end, flowEndReason active timeout on every record but
# the last, and time ranges that follow one another without overlapping,
# from conntrack's start.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
PORT=9995
CONN=30500
collector_notrack "udp dport $PORT"
conn_counters $CONN

# ctflow9.lua with a 1 s active timeout; the test can stop the dumps, so
# that none falls between its last `conntrack -L` and the end.
cat >"$TMP/active.lua" <<'LUA'
local nurs = require "nurs"
local exporter = nurs.netflow9 { collector = arg[1], templates = require("nurs.templates").netflow9 }
local conntrack = nurs.conntrack({ events = { "new", "destroy" } }, function(rec)
  exporter:export(rec)
  if rec.event == "destroy" then nurs.log.info("destroyed %s", rec.proto) end
end)
local timer
timer = nurs.every(1, function()
  local stop = io.open(arg[2])
  if stop then
    stop:close()
    timer:stop()
    nurs.log.info("active timeouts stopped")
  elseif not conntrack:dumping() then
    conntrack:dump { zero = true }
    nurs.log.info("active timeout dump")
  end
end)
LUA

start_nfcapd "$TMP/nf" $PORT
start_capture "$TMP/export.pcap" udp port $PORT
start_nurs_log "$TMP/nurs.log" "$TMP/active.lua" 127.0.0.1:$PORT "$TMP/stop"
wait_log "listening"
nsx timeout 60 python3 "$ROOT/tests/kernel/lib/longconn.py" $CONN 6 0.6 "$TMP/go" >"$TMP/conn.json" &
LONG=$!
PIDS+=("$LONG")
wait_grep "$TMP/conn.json" "ready" 20 || fail "the long connection did not get going"
touch "$TMP/stop"
wait_log "active timeouts stopped" 5
dumps=$(grep -c "active timeout dump" "$TMP/nurs.log")
[ "$dumps" -ge 2 ] || fail "only $dumps active timeouts during the connection"
touch "$TMP/go"
wait "$LONG" || fail "the long connection failed"
nsx conntrack -L -o xml,ktimestamp,id >"$TMP/table.xml" 2>/dev/null
nsx nft -j list counters table inet nurs_count >"$TMP/nft.json"
[ "$(xml_entries "$TMP/table.xml")" -eq 1 ] || fail "conntrack lists more than the long connection"
nsx conntrack -F 2>/dev/null
wait_log "destroyed tcp" 5
stop_pid "$NURS_PID"
stop_nfcapd
stop_capture
python3 "$FLOWCHECK" active --nfdump "$TMP/nf" --capture "$TMP/export.pcap" --port $PORT --seq-start 0 \
    --table "$TMP/table.xml" --nft "$TMP/nft.json" --conn "$TMP/conn.json" || fail "active timeouts"
echo "ok: active-timeout ($dumps dumps)"
