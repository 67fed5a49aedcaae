#!/bin/bash
# Known TCP and UDP traffic over IPv4 and IPv6 on loopback in a private
# namespace: the JSON lines of ct-json.lua hold each connection with the
# addresses, ports, protocol and counters that `conntrack -L` reports.
. "$(dirname "$0")/lib/common.sh"
ns_setup

start_nurs "$TMP/out.json" "$ROOT/scripts/examples/ct-json.lua"
wait_log "listening"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/traffic.py" --tcp 3 --udp 3 >"$TMP/flows.json"
nsx conntrack -L -o xml,id >"$TMP/table.xml" 2>/dev/null
n=$(grep -o '<flow>' "$TMP/table.xml" | wc -l)
[ "$n" -ge 12 ] || fail "expected at least 12 conntrack entries, conntrack lists $n"
# Flushing ends every entry: DESTROY events carry the final counters.
nsx conntrack -F 2>/dev/null
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c '"event":"destroy"' "$TMP/out.json")" -ge "$n" ] && break
    sleep 0.1
done
stop_nurs
python3 "$ROOT/tests/kernel/lib/ct_compare.py" "$TMP/table.xml" "$TMP/out.json" "$TMP/flows.json"
# NEW events were seen for every flow, too.
[ "$(grep -c '"event":"new"' "$TMP/out.json")" -ge "$n" ] || fail "fewer NEW events than entries"
echo "ok: ct-json"
