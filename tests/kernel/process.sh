#!/bin/bash
# Process attribution end to end: processes with distinctive names, users
# and cgroups (a systemd-like service, a docker-like scope) make TCP and UDP
# connections over IPv4 and IPv6 on loopback; half of the clients exit
# before conntrack -F ends their connections. ct-json.lua, ctipfix.lua and
# ctflow9.lua, each given "process", must name the right process, pid, uid
# and user at both ends of every flow: in the JSON lines (ct-json.lua is
# reloaded while the connections live: what it knows of them stays), and
# in the IPFIX file and NetFlow v9 datagrams as tshark decodes them.
# PROCESS=process=sockdiag (process-sockdiag.sh) runs it all without BPF.
. "$(dirname "$0")/lib/common.sh"
PROCESS=${PROCESS:-process}
ns_setup
# Packets of a flushed connection must not start a new entry.
nsx sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0

# A cgroup directory of our own: v2 if mounted, else systemd's v1 one.
cgroot=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$cgroot" ] || cgroot=$(awk '$9 == "cgroup" && $NF ~ /name=systemd/ { print $5; exit }' /proc/self/mountinfo)
[ -n "$cgroot" ] || fail "no cgroup2 nor name=systemd hierarchy mounted"
CG="$cgroot/nurs-ktest-$$.slice"
mkdir "$CG"
cleanup_cgroups() { find "$CG" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir "$CG" 2>/dev/null || true; }
trap 'cleanup_cgroups; cleanup' EXIT

start_nurs "$TMP/ct.json" "$ROOT/scripts/examples/ct-json.lua" - destroy "$PROCESS"
CT_JSON=$NURS_PID
start_nurs "$TMP/ipfix.out" "$ROOT/scripts/examples/ctipfix.lua" "file://$TMP/flows.ipfix" "$PROCESS"
start_nurs "$TMP/v9.out" "$ROOT/scripts/examples/ctflow9.lua" 127.0.0.1:29055 "$PROCESS"
# --immediate-mode: without it, packets wait in the capture ring up to a
# second, and the ones sent at exit were lost when tcpdump was stopped.
ip netns exec "$NS" timeout 30 tcpdump --immediate-mode -U -q -i lo -w "$TMP/v9.pcap" -c 1000 \
    udp port 29055 2>/dev/null &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
# A collector that listens (without one, ICMP port unreachable makes the next send fail).
ip netns exec "$NS" timeout 30 socat -u UDP-RECV:29055 OPEN:/dev/null &
PIDS+=($!)
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c listening "$TMP/nurs.log")" -ge 3 ] && break
    sleep 0.1
done
[ "$(grep -c listening "$TMP/nurs.log")" -ge 3 ] || fail "the daemons did not start: $(cat "$TMP/nurs.log")"
sleep 0.3 # tcpdump

# nsenter, not ip netns exec: that mounts another /sys, without our cgroup.
timeout 60 nsenter --net="/run/netns/$NS" python3 "$ROOT/tests/kernel/lib/proc_traffic.py" "$CG" 31000 \
    "$CT_JSON" >"$TMP/flows.json" ||
    fail "traffic failed"
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c '"event":"destroy"' "$TMP/ct.json")" -ge 8 ] && break
    sleep 0.1
done
# SIGTERM: every daemon flushes what it buffered.
for p in "${PIDS[@]}"; do
    [ "$p" = "$TCPDUMP" ] || kill -TERM "$p" 2>/dev/null || true
done
for p in "${PIDS[@]}"; do
    [ "$p" = "$TCPDUMP" ] || timeout 10 tail -s 0.05 --pid="$p" -f /dev/null || fail "a daemon did not exit"
done
sleep 0.5 # what the daemons sent at exit reaches tcpdump
kill -TERM "$TCPDUMP" 2>/dev/null || true
timeout 10 tail -s 0.05 --pid="$TCPDUMP" -f /dev/null || true

grep -q "reloaded .*ct-json.lua" "$TMP/nurs.log" || fail "ct-json.lua was not reloaded"
# Each daemon says which way it finds processes (and the reload keeps it).
if [ "$PROCESS" = process=sockdiag ]; then
    [ "$(grep -c 'process attribution: sock_diag and /proc (asked for)' "$TMP/nurs.log")" -eq 3 ] ||
        fail "not every daemon used sock_diag: $(grep 'process attribution:' "$TMP/nurs.log")"
    ! grep -q "process_bpf=[1-9]" "$TMP/nurs.log" || fail "BPF used though not asked for"
else
    [ "$(grep -c 'process attribution: \(BPF (\|sock_diag and\)' "$TMP/nurs.log")" -eq 3 ] ||
        fail "a daemon did not say how it finds processes: $(cat "$TMP/nurs.log")"
fi
grep -q "process_failed=0" "$TMP/nurs.log" || fail "attribution failures: $(grep process_ "$TMP/nurs.log")"
! grep -q "process_failed=[1-9]" "$TMP/nurs.log" || fail "attribution failures: $(grep process_ "$TMP/nurs.log")"
python3 "$ROOT/tests/kernel/lib/proc_check.py" "$TMP/flows.json" "$TMP/ct.json" "$TMP/flows.ipfix" "$TMP/v9.pcap" ||
    { grep -h "counters conntrack" "$TMP/nurs.log"; fail "attribution wrong"; }
echo "ok: process"
