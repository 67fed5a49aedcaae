#!/bin/bash
# ctflow9.lua to a second collector, pmacct's nfacctd: known TCP, UDP and
# ICMP traffic over IPv4 and IPv6, some of it through DNAT and SNAT rules,
# ends with a flush; nfacctd's print plugin shows every flow with the
# addresses, ports, protocol, ICMP type/code (in the port, as v9
# collectors read it), post-NAT fields, bytes and packets conntrack
# counted, and conntrack's start to pmacct's precision (a second).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
PORT=9996
collector_notrack "udp dport $PORT"
nat_setup
cat >"$TMP/nfacctd.conf" <<CONF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $PORT
plugins: print
aggregate: src_host, dst_host, src_port, dst_port, proto, post_nat_src_host, post_nat_dst_host, post_nat_src_port, post_nat_dst_port, timestamp_start, timestamp_end
print_output: json
print_output_file: $TMP/pmacct.json
print_output_file_append: true
print_refresh_time: 1
timestamps_since_epoch: true
CONF
ip netns exec "$NS" nfacctd -f "$TMP/nfacctd.conf" >"$TMP/nfacctd.log" 2>&1 &
NFACCTD_PID=$!
PIDS+=("$NFACCTD_PID")
wait_grep "$TMP/nfacctd.log" "waiting for NetFlow/IPFIX data" 10 || fail "nfacctd did not start: $(cat "$TMP/nfacctd.log")"
export_known_traffic "$ROOT/scripts/examples/ctflow9.lua" 127.0.0.1:$PORT
records=$(counter "$TMP/nurs.log" netflow9 records)
# nfacctd writes what it has every second; a shortfall is reported below.
wait_lines "$TMP/pmacct.json" "$records" 5 || true
# nfacctd blocks SIGTERM and may not end on SIGINT; what it wrote is in
# the file already.
pkill -KILL -P "$NFACCTD_PID" 2>/dev/null || true
kill -KILL "$NFACCTD_PID" 2>/dev/null || true
python3 "$FLOWCHECK" flows --version 9 --table "$TMP/table.xml" --traffic "$TMP/traffic.json" \
    --nat-entries $NAT_ENTRIES --start-window "$T0" "$T1" --end-window "$F0" "$F1" \
    --pmacct "$TMP/pmacct.json" || fail "pmacct's flows differ"
got=$(wc -l <"$TMP/pmacct.json")
[ "$got" -eq "$records" ] || fail "pmacct shows $got flows; the exporter sent $records"
echo "ok: pmacct ($n connections, $records flow records)"
