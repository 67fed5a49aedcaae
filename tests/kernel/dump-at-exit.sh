#!/bin/bash
# dump_at_exit: connections still open when ctflow9.lua gets SIGTERM (a
# TCP connection between two bursts, UDP flows over IPv4 and IPv6) are
# exported on the way out with flowEndReason forced end (4), the bytes and
# packets conntrack counted so far (and nft counter rules on the TCP
# connection), conntrack's start, and an end between SIGTERM and the exit.
# The exit dump zeroes the counters it reports ("zero"), so the next run
# starts from there.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
PORT=9995
CONN=30500
collector_notrack "udp dport $PORT"
conn_counters $CONN
start_nfcapd "$TMP/nf" $PORT
start_capture "$TMP/export.pcap" udp port $PORT
start_nurs_log "$TMP/nurs.log" "$ROOT/scripts/examples/ctflow9.lua" 127.0.0.1:$PORT
wait_log "listening"
nsx timeout 60 python3 "$ROOT/tests/kernel/lib/longconn.py" $CONN 2 0.1 "$TMP/go" >"$TMP/conn.json" &
LONG=$!
PIDS+=("$LONG")
nsx timeout 30 python3 "$TRAFFIC" --tcp 0 --udp 1 >/dev/null || fail "traffic failed"
wait_grep "$TMP/conn.json" "ready" 20 || fail "the long connection did not get going"
nsx conntrack -L -o xml,ktimestamp,id >"$TMP/table.xml" 2>/dev/null
nsx nft -j list counters table inet nurs_count >"$TMP/nft.json"
n=$(xml_entries "$TMP/table.xml")
[ "$n" -eq 3 ] || fail "conntrack lists $n entries, want the TCP connection and two UDP flows"
s0=$(now_ms)
stop_pid "$NURS_PID"
s1=$(now_ms)
nsx conntrack -L -o xml,ktimestamp,id >"$TMP/after.xml" 2>/dev/null
touch "$TMP/go"
wait "$LONG" || fail "the long connection failed"
stop_nfcapd
stop_capture

grep -q "exit dump: $n entries" "$TMP/nurs.log" || fail "no exit dump of $n entries: $(grep "exit dump" "$TMP/nurs.log")"
records=$(counter "$TMP/nurs.log" netflow9 records)
[ "$records" -eq $((2 * n)) ] || fail "$records records for $n connections"
for src in --nfdump="$TMP/nf" "--capture=$TMP/export.pcap"; do
    python3 "$FLOWCHECK" flows --version 9 --table "$TMP/table.xml" --reason 4 --records "$records" \
        --end-window "$s0" "$s1" --port $PORT "$src" || fail "flows at exit ($src)"
done
# The TCP connection's records are what nft counted, and its counters were
# zeroed by the exit dump.
python3 - "$TMP/nft.json" "$TMP/table.xml" "$TMP/after.xml" $CONN <<'PY' || fail "counters"
import json, sys
import xml.etree.ElementTree as ET
nft = {o["counter"]["name"]: (o["counter"]["packets"], o["counter"]["bytes"])
       for o in json.load(open(sys.argv[1]))["nftables"] if "counter" in o}
def conn(path):
    for flow in ET.parse(path).getroot().iter("flow"):
        metas = {m.get("direction"): m for m in flow.iter("meta")}
        if metas["original"].findtext("layer4/dport") == sys.argv[4]:
            return {d: (int(metas[d].findtext("counters/packets")), int(metas[d].findtext("counters/bytes")))
                    for d in ("original", "reply")}
before, after = conn(sys.argv[2]), conn(sys.argv[3])
assert before == {"original": nft["orig"], "reply": nft["reply"]}, (before, nft)
assert after == {"original": (0, 0), "reply": (0, 0)}, f"counters after the exit dump: {after}"
PY
echo "ok: dump-at-exit ($n connections ended as forced at exit)"
