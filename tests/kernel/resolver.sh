#!/bin/bash
# Host names are resolved off the loop. In a mount namespace of its own,
# the test gives the daemon an /etc/hosts that names the collector and a
# resolv.conf whose name server (a local UDP socket) never answers. An
# IPFIX exporter sends a steady stream of replayed records to
# collector.test; then the hosts entry goes, and SIGHUP reloads a script
# that adds a second exporter to another name. Both lookups now hang in the
# resolver; the loop must not: datagrams keep reaching the collector with
# no long gap (a blocking getaddrinfo stopped them for the resolver's
# timeout), the first exporter keeps its old address once its lookup times
# out, and the new one says it cannot resolve its name yet.
if [ -z "${NURS_IN_MOUNT_NS:-}" ]; then
    exec env NURS_IN_MOUNT_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup

printf '127.0.0.1 localhost\n127.0.0.1 collector.test\n' >"$TMP/hosts"
printf 'nameserver 127.0.0.1\noptions timeout:10 attempts:2\n' >"$TMP/resolv.conf"
printf 'hosts: files dns\n' >"$TMP/nsswitch.conf"
for f in hosts resolv.conf nsswitch.conf; do mount --bind "$TMP/$f" "/etc/$f"; done

# A name server that reads every query and never answers.
nsx timeout 60 python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
while True:
    s.recv(4096)' &
PIDS+=($!)
# The collector notes when each datagram came.
nsx timeout 60 python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 4739))
with open(sys.argv[1], "w") as log:
    while True:
        s.recv(65535)
        log.write("%.3f\n" % time.time()); log.flush()' "$TMP/arrivals" &
PIDS+=($!)

"$(dirname "$NURS")/tools/ct-synth" 20000 "$TMP/ct.pcap" 7 2>/dev/null
cat >"$TMP/export.lua" <<'LUA'
local nurs = require "nurs"
local tmpl = { ipv4 = { "sourceIPv4Address", "destinationIPv4Address", "octetDeltaCount" } }
local ex = nurs.ipfix { collector = "collector.test:4739", flush = 0.05, templates = tmpl }
-- About 20 s of records, a few hundred a second.
nurs.replay({ path = arg[1], speed = 0.01, at_end = "continue" }, ex)
if io.open(arg[2]) then
  nurs.ipfix { collector = "other.test:4740", flush = 0.05, templates = tmpl }
end
LUA
start_nurs_log "$TMP/nurs.log" "$TMP/export.lua" "$TMP/ct.pcap" "$TMP/phase2"
wait_grep "$TMP/nurs.log" "exporting IPFIX" 10 || fail "no start"
sleep 2
[ -s "$TMP/arrivals" ] || fail "nothing reached the collector"
printf '127.0.0.1 localhost\n' >"$TMP/hosts"
touch "$TMP/phase2"
t_hup=$(date +%s.%N)
kill -HUP "$NURS_PID"
wait_grep "$TMP/nurs.log" "reloaded" 10 || fail "the reload did not finish"
wait_grep "$TMP/nurs.log" "cannot resolve collector.test again" 15 || fail "no word of the failed lookup"
sleep 2
t_end=$(date +%s.%N)
stop_pid "$NURS_PID"
grep -q "still sending to 127.0.0.1" "$TMP/nurs.log" || fail "the old address was not kept"
grep -q "cannot resolve other.test" "$TMP/nurs.log" || fail "the new exporter's name: no word"
python3 - "$TMP/arrivals" "$t_hup" "$t_end" <<'PY' || fail "the collector saw a stall"
import sys
t = [float(l) for l in open(sys.argv[1])]
hup, end = float(sys.argv[2]), float(sys.argv[3])
gaps = [b - a for a, b in zip(t, t[1:])]
late = [x for x in t if x > hup + 6]
print("collector: %d datagrams, longest gap %.3f s, %d after the lookups timed out"
      % (len(t), max(gaps), len(late)))
sys.exit(0 if max(gaps) < 1.0 and late and t[-1] > end - 1.5 else 1)
PY
echo "ok: resolver (a reload with an unresponsive name server did not stall the loop)"
