#!/bin/bash
# Reload while exporting: bounded traffic makes connections over IPv4 and
# IPv6 while the table is flushed every quarter second (so flows are
# exported all along), and ctflow9.lua gets SIGHUP six times: unchanged,
# then with a changed IPv4 template, then back, then unchanged. nfdump
# shows no sequence failure and every flow once; tshark sees continuous
# sequence numbers, no expert warning, no data before its template, and
# template ids that follow the definitions: the unchanged IPv6 template
# keeps its id throughout, the changed IPv4 one gets a new id, and the
# original definition gets its old id back.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
PORT=9995
V4=4000
V6=1000
collector_notrack "udp dport $PORT"
cp "$ROOT/scripts/examples/ctflow9.lua" "$TMP/original.lua"
cp "$TMP/original.lua" "$TMP/ctflow9.lua"
# The changed template: the IPv4 one gains ipVersion.
python3 - "$TMP/original.lua" "$TMP/changed.lua" <<'PY'
import sys
s = open(sys.argv[1]).read()
old = '"flowEndReason" },'
assert s.count(old) == 2, "ctflow9.lua's templates changed; update this test"
open(sys.argv[2], "w").write(s.replace(old, '"flowEndReason", "ipVersion" },', 1))
PY

start_nfcapd "$TMP/nf" $PORT
start_capture "$TMP/export.pcap" udp port $PORT
start_nurs_log "$TMP/nurs.log" "$TMP/ctflow9.lua" 127.0.0.1:$PORT
wait_log "listening"

reload_load_start $V4 $V6
# The original templates reach the collector before the first reload (a
# busy machine may take longer than one flush interval to send them).
wait_counter "$NURS_PID" "$TMP/nurs.log" netflow9 messages 1
for v in original changed original original original original; do
    sleep 0.4
    cp "$TMP/$v.lua" "$TMP/ctflow9.lua"
    kill -HUP "$NURS_PID"
done
reload_load_wait
wait_counter "$NURS_PID" "$TMP/nurs.log" netflow9 records $((V4 + V6))
stop_pid "$NURS_PID"
stop_nfcapd
stop_capture

reloads=$(grep -c "reloaded" "$TMP/nurs.log" || true)
[ "$reloads" -eq 6 ] || fail "6 reloads asked, $reloads done: $(grep -i "reload" "$TMP/nurs.log" | tail -3)"
grep -q "receive buffer overrun" "$TMP/nurs.log" && fail "kernel overruns: $(grep "receive buffer overrun" "$TMP/nurs.log" | head -1)"
records=$(counter "$TMP/nurs.log" netflow9 records)
[ "$records" -eq $((V4 + V6)) ] || fail "the exporter made $records records for $((V4 + V6)) connections"
[ "$(counter "$TMP/nurs.log" netflow9 lost)" = 0 ] || fail "the exporter lost records"
python3 "$FLOWCHECK" stream --capture "$TMP/export.pcap" --port $PORT --seq-start 0 --stats atmost \
    --records "$records" --dports 10000 $V4 --dports 30000 $V6 \
    --expect-templates "256,257,258,259 256,257,259,260 256,257,258,259" >/dev/null || fail "tshark"
python3 "$FLOWCHECK" nfports --nfdump "$TMP/nf" --dports 10000 $V4 --dports 30000 $V6 \
    --records "$records" || fail "nfdump's flows"
seqfail=$(timeout 60 nfdump -R "$TMP/nf" -I | grep "Sequence failures" | head -c 1000)
[ "$seqfail" = "Sequence failures: 0" ] || fail "nfdump: $seqfail"
echo "ok: export-reload ($records flows across $reloads reloads)"
