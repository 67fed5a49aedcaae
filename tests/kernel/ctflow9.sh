#!/bin/bash
# ctflow9.lua to nfcapd: known TCP, UDP and ICMP traffic over IPv4 and
# IPv6, some of it through DNAT and SNAT rules, ends with a flush; nfdump
# shows every flow with the addresses, ports, protocol, ICMP type/code,
# post-NAT fields, bytes and packets conntrack counted, conntrack's start
# time to the millisecond, an end inside the flush, and no sequence
# failure. tshark decodes every exported datagram without a malformed set
# or expert warning, sees continuous sequence numbers, statistics records
# that count what went before them, and as many flow records as the
# exporter counted.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
PORT=9995
collector_notrack "udp dport $PORT"
nat_setup
start_nfcapd "$TMP/nf" $PORT
start_capture "$TMP/export.pcap" udp port $PORT
export_known_traffic "$ROOT/scripts/examples/ctflow9.lua" 127.0.0.1:$PORT
stop_nfcapd
stop_capture

records=$(counter "$TMP/nurs.log" netflow9 records)
[ "$(counter "$TMP/nurs.log" netflow9 lost)" = 0 ] || fail "the exporter lost records"
python3 "$FLOWCHECK" flows --version 9 --table "$TMP/table.xml" --traffic "$TMP/traffic.json" \
    --nat-entries $NAT_ENTRIES --start-window "$T0" "$T1" --end-window "$F0" "$F1" \
    --records "$records" --nfdump "$TMP/nf" || fail "nfdump's flows differ"
python3 "$FLOWCHECK" flows --version 9 --table "$TMP/table.xml" --traffic "$TMP/traffic.json" \
    --nat-entries $NAT_ENTRIES --start-window "$T0" "$T1" --end-window "$F0" "$F1" \
    --records "$records" --capture "$TMP/export.pcap" --port $PORT --seq-start 0 --stats atmost ||
    fail "tshark's flows differ"
seqfail=$(timeout 60 nfdump -R "$TMP/nf" -I | grep "Sequence failures" | head -c 1000)
[ "$seqfail" = "Sequence failures: 0" ] || fail "nfdump: $seqfail"
echo "ok: ctflow9 ($n connections, $records flow records)"
