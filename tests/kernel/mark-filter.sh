#!/bin/bash
# The mark filter: ctflow9.lua COLLECTOR 0x10/0xf0 exports only the
# connections an nft rule marked with a matching conntrack mark (0x12);
# one marked 0x21 and unmarked TCP, UDP and ICMP traffic are left out
# before Lua runs, and the `filtered` counter says how many events.
# Conntrack timestamps are off here: ctflow9.lua then listens to NEW
# events too, and flows start when conntrack created them.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
nsx sysctl -qw net.netfilter.nf_conntrack_timestamp=0
PORT=9995
collector_notrack "udp dport $PORT"
nsx nft -f - <<'NFT'
table inet nurs_mark {
    chain out { type filter hook output priority 0;
        tcp dport 30600 ct mark set 0x12; tcp dport 30601 ct mark set 0x21; }
}
NFT
start_nfcapd "$TMP/nf" $PORT
start_capture "$TMP/export.pcap" udp port $PORT
start_nurs_log "$TMP/nurs.log" "$ROOT/scripts/examples/ctflow9.lua" 127.0.0.1:$PORT 0x10/0xf0
wait_log "listening"
T0=$(now_ms)
nsx timeout 30 python3 "$TRAFFIC" --tcp 1 --udp 1 --icmp 1 --flow tcp,127.0.0.1,30600,127.0.0.1,30600 \
    --flow tcp,127.0.0.1,30601,127.0.0.1,30601 >"$TMP/traffic.json" || fail "traffic failed"
T1=$(now_ms)
nsx conntrack -L -o xml,ktimestamp,id >"$TMP/table.xml" 2>/dev/null
n=$(xml_entries "$TMP/table.xml")
[ "$(grep -c '<mark>18</mark>' "$TMP/table.xml")" -eq 1 ] || fail "the nft rule did not mark one connection 0x12"
nsx conntrack -F 2>/dev/null
wait_counter "$NURS_PID" "$TMP/nurs.log" conntrack in $(($(events_per_entry) * n))
stop_pid "$NURS_PID"
stop_nfcapd
stop_capture

filtered=$(counter "$TMP/nurs.log" conntrack filtered)
[ "$(events_per_entry)" = 2 ] || fail "timestamps still on"
[ "$filtered" -eq $((2 * (n - 1))) ] || fail "filtered $filtered events, want $((2 * (n - 1))) (new and destroy of $((n - 1)) entries)"
records=$(counter "$TMP/nurs.log" netflow9 records)
[ "$records" -eq 2 ] || fail "$records records, want the two directions of the marked connection"
for src in --nfdump="$TMP/nf" "--capture=$TMP/export.pcap"; do
    python3 "$FLOWCHECK" flows --version 9 --table "$TMP/table.xml" --traffic "$TMP/traffic.json" \
        --mark 0x10/0xf0 --records "$records" --port $PORT --no-timestamps \
        --start-window "$T0" "$T1" "$src" || fail "flows ($src)"
done
echo "ok: mark-filter (1 of $n connections exported)"
