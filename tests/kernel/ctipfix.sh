#!/bin/bash
# ctipfix.lua, four ways at once on the same traffic (TCP, UDP and ICMP
# over IPv4 and IPv6, some of it NATed), each checked against conntrack:
#  (a) over UDP to nfcapd: nfdump shows every flow as conntrack counted it;
#      tshark decodes the capture (IPFIX sequence numbers are checked with
#      tshark: nfdump 1.7.1 miscounts them when options records are sent);
#  (b) over TCP to a listener that writes the stream to a file, which
#      tshark reads as an RFC 5655 file: templates first, every record
#      decodes, sequence numbers continuous;
#  (c) into file:///path, read by tshark the same way;
#  (d) biflows into a file: one record per connection whose reverse
#      octets and packets are the reply direction's.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
UDP=4739
TCP=4740
collector_notrack "udp dport $UDP" "tcp dport $TCP" "tcp sport $TCP"
nat_setup
start_nfcapd "$TMP/nf" $UDP
start_capture "$TMP/udp.pcap" udp port $UDP
ip netns exec "$NS" timeout 60 socat -u TCP-LISTEN:$TCP,bind=127.0.0.1,reuseaddr \
    OPEN:"$TMP/tcp.ipfix",creat,trunc 2>"$TMP/socat.log" &
SOCAT=$!
PIDS+=("$SOCAT")
EX=$ROOT/scripts/examples/ctipfix.lua
declare -A LOG=([udp]="$TMP/udp.log" [tcp]="$TMP/tcp.log" [file]="$TMP/file.log" [biflow]="$TMP/biflow.log")
declare -A PID
start_nurs_log "${LOG[udp]}" "$EX" 127.0.0.1:$UDP;                    PID[udp]=$NURS_PID
start_nurs_log "${LOG[tcp]}" "$EX" tcp://127.0.0.1:$TCP;              PID[tcp]=$NURS_PID
start_nurs_log "${LOG[file]}" "$EX" "file://$TMP/file.ipfix";         PID[file]=$NURS_PID
start_nurs_log "${LOG[biflow]}" "$EX" "file://$TMP/biflow.ipfix" biflow; PID[biflow]=$NURS_PID
for k in udp tcp file biflow; do wait_grep "${LOG[$k]}" "listening" 10 || fail "$k: no start"; done
wait_grep "${LOG[tcp]}" "connected" 10 || fail "no TCP connection to the listener"

known_traffic_then_flush
n=$N_ENTRIES
for k in udp tcp file biflow; do wait_counter "${PID[$k]}" "${LOG[$k]}" conntrack in $(($(events_per_entry) * n)); done
for k in udp tcp file biflow; do stop_pid "${PID[$k]}"; done
timeout 10 tail -s 0.05 --pid="$SOCAT" -f /dev/null || fail "the TCP listener did not see the end of the stream"
stop_nfcapd
stop_capture

common=(--version 10 --table "$TMP/table.xml" --traffic "$TMP/traffic.json" --nat-entries $NAT_ENTRIES
        --start-window "$T0" "$T1" --end-window "$F0" "$F1")
for k in udp tcp file biflow; do
    [ "$(counter "${LOG[$k]}" ipfix lost)" = 0 ] || fail "$k: the exporter lost records"
done
python3 "$FLOWCHECK" flows "${common[@]}" --records "$(counter "${LOG[udp]}" ipfix records)" \
    --nfdump "$TMP/nf" || fail "(a) nfdump's flows differ"
python3 "$FLOWCHECK" flows "${common[@]}" --records "$(counter "${LOG[udp]}" ipfix records)" \
    --capture "$TMP/udp.pcap" --port $UDP --seq-start 0 --stats atmost || fail "(a) tshark's flows differ"
python3 "$FLOWCHECK" flows "${common[@]}" --records "$(counter "${LOG[tcp]}" ipfix records)" \
    --file "$TMP/tcp.ipfix" --templates-first --seq-start 0 --stats exact || fail "(b) the TCP stream differs"
python3 "$FLOWCHECK" flows "${common[@]}" --records "$(counter "${LOG[file]}" ipfix records)" \
    --file "$TMP/file.ipfix" --templates-first --seq-start 0 --stats exact || fail "(c) the file differs"
python3 "$FLOWCHECK" flows "${common[@]}" --records "$(counter "${LOG[biflow]}" ipfix records)" \
    --file "$TMP/biflow.ipfix" --templates-first --seq-start 0 --stats exact --biflow ||
    fail "(d) the biflow file differs"
[ "$(counter "${LOG[biflow]}" ipfix records)" -eq "$n" ] || fail "(d) not one biflow record per connection"
echo "ok: ctipfix ($n connections over UDP, TCP, a file, and as biflows)"
