#!/bin/bash
# BPF process attribution: processes that connect and exit at once (TCP
# clients, UDP senders with sendto and with connect, servers that accept
# one connection or datagram and exit), IPv4 and IPv6, are all named at
# both ends of their DESTROY records with the right pid, name, uid, cgroup,
# thread and parent, as each process reported itself (process = "bpf").
# The daemon runs as nobody (--user) once started. Then: nothing of ours
# stays in the kernel (programs, links, maps, cgroup attachments) after
# SIGTERM, SIGKILL or a failed start; and "auto" without CAP_BPF,
# CAP_PERFMON and CAP_SYS_ADMIN falls back to sock_diag and says why.
. "$(dirname "$0")/lib/common.sh"
ns_setup
nsx sysctl -qw net.netfilter.nf_conntrack_tcp_loose=0

cgroot=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$cgroot" ] || fail "no cgroup v2 hierarchy mounted"
CG="$cgroot/nurs-ktest-$$.slice"
mkdir "$CG"
cleanup_cgroups() { find "$CG" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; rmdir "$CG" 2>/dev/null || true; }
trap 'cleanup_cgroups; cleanup' EXIT

# The ids of the BPF objects a daemon logged: "KIND ID" lines.
our_objects() {
    sed -n 's/.*process attribution: BPF objects: programs\([0-9 ]*\); links\([0-9 ]*\); maps\([0-9 ]*\)$/prog \1\nlink \2\nmap \3/p' "$1" |
        awk '{ for (i = 2; i <= NF; i++) print $1, $i }'
}
# Waits (at most 5 s: the kernel frees them after an RCU grace period)
# until none of the objects listed in $1 exists, nor is attached to a cgroup.
check_gone() {
    local list=$1 what=$2 i left
    [ -s "$list" ] || fail "$what: the daemon logged no BPF objects"
    for ((i = 0; i < 50; i++)); do
        left=""
        while read -r kind id; do
            bpftool "$kind" show id "$id" >/dev/null 2>&1 && left="$left $kind $id"
        done <"$list"
        attached=$(bpftool cgroup tree 2>/dev/null | awk 'NR > 2 && $1 ~ /^[0-9]+$/ { print $1 }')
        for id in $(awk '$1 == "prog" { print $2 }' "$list"); do
            grep -qx "$id" <<<"$attached" && left="$left attached:$id"
        done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    fail "$what: still in the kernel:$left"
}
# Starts ct-json.lua with process mode $2 writing to $1 (more options of
# nurs-lua after) and waits for it.
start_ct_json() {
    local out=$1 mode=$2
    shift 2
    start_nurs "$out" "$@" "$ROOT/scripts/examples/ct-json.lua" - destroy "process=$mode"
    wait_log "listening for conntrack events" || fail "the daemon did not start"
}

before_tree=$(bpftool cgroup tree 2>/dev/null | grep -c nurs_ || true)

# 1. Zero-linger processes, attributed; then SIGTERM. Under --user: the
# programs are loaded as root, and go on once the daemon runs as nobody
# with what a user's daemon keeps (no CAP_BPF).
: >"$TMP/nurs.log"
start_ct_json "$TMP/ct.json" bpf --user nobody
wait_log "running as user nobody" || fail "the daemon did not drop its privileges"
grep -q "process attribution: BPF (programs attached at" "$TMP/nurs.log" ||
    fail "BPF not used: $(grep 'process attribution' "$TMP/nurs.log")"
our_objects "$TMP/nurs.log" >"$TMP/objects.1"
[ "$(grep -c '^prog ' "$TMP/objects.1")" -ge 8 ] || fail "fewer programs than expected: $(cat "$TMP/objects.1")"
ROUNDS=6
timeout 60 nsenter --net="/run/netns/$NS" python3 "$ROOT/tests/kernel/lib/proc_zero.py" "$CG" 32000 \
    "$ROUNDS" "$TMP/flows.json" || fail "traffic failed"
# Every answer in (the servers' ends go through sock_diag first) before
# conntrack -F ends the connections.
for ((i = 0; i < 50; i++)); do
    kill -USR1 "$NURS_PID"
    sleep 0.1
    grep "counters conntrack" "$TMP/nurs.log" | tail -1 | grep -q "process_pending=0 " && break
done
nsx conntrack -F 2>/dev/null
want=$((ROUNDS * 6))
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c '"event":"destroy"' "$TMP/ct.json")" -ge "$want" ] && break
    sleep 0.1
done
stop_nurs
python3 "$ROOT/tests/kernel/lib/proc_zero_check.py" "$TMP/flows.json" "$TMP/ct.json" ||
    { grep -h "counters conntrack" "$TMP/nurs.log"; fail "zero-linger processes not attributed"; }
grep "counters conntrack" "$TMP/nurs.log" | grep -q "process_bpf_dropped=0" ||
    fail "BPF records dropped: $(grep 'counters conntrack' "$TMP/nurs.log")"
check_gone "$TMP/objects.1" "after SIGTERM"

# 2. SIGKILL: the kernel lets go of what only our descriptors held.
: >"$TMP/nurs.log"
start_ct_json /dev/null bpf
our_objects "$TMP/nurs.log" >"$TMP/objects.2"
kill -KILL "$NURS_PID"
wait "$NURS_PID" 2>/dev/null || true
check_gone "$TMP/objects.2" "after SIGKILL"

# 3. A start that fails after the programs were attached (the script errs).
: >"$TMP/nurs.log"
cat >"$TMP/fails.lua" <<'LUA'
local nurs = require "nurs"
nurs.conntrack({ events = { "destroy" }, process = "bpf" }, function() end)
error("this script fails after its source started")
LUA
nsx "$NURS" "$TMP/fails.lua" >/dev/null 2>>"$TMP/nurs.log" && fail "the failing script did not fail"
our_objects "$TMP/nurs.log" >"$TMP/objects.3"
check_gone "$TMP/objects.3" "after a failed start"
[ "$(bpftool cgroup tree 2>/dev/null | grep -c nurs_ || true)" -le "$before_tree" ] ||
    fail "more nurs_ programs attached than before the test: $(bpftool cgroup tree | grep nurs_)"

# 4. Without the capabilities: auto takes sock_diag and says why; bpf refuses.
: >"$TMP/nurs.log"
nopriv=(setpriv --inh-caps=-all --bounding-set=-bpf,-perfmon,-sys_admin)
ip netns exec "$NS" "${nopriv[@]}" "$NURS" "$ROOT/scripts/examples/ct-json.lua" - destroy process \
    >/dev/null 2>>"$TMP/nurs.log" &
NURS_PID=$!
PIDS+=("$NURS_PID")
wait_log "listening for conntrack events" || fail "auto without capabilities did not start"
grep -q "process attribution: sock_diag and /proc (BPF cannot be used: no CAP_BPF and CAP_PERFMON, nor CAP_SYS_ADMIN)" \
    "$TMP/nurs.log" || fail "auto did not say it fell back: $(grep 'process attribution' "$TMP/nurs.log")"
sleep 0.5 # its signal handlers come right after the script's start
stop_nurs
nsx "${nopriv[@]}" "$NURS" "$ROOT/scripts/examples/ct-json.lua" - destroy process=bpf >/dev/null 2>"$TMP/refused.log" &&
    fail "process=bpf started without the capabilities"
grep -q "BPF: no CAP_BPF and CAP_PERFMON, nor CAP_SYS_ADMIN" "$TMP/refused.log" ||
    fail "process=bpf did not say why it cannot: $(cat "$TMP/refused.log")"
echo "ok: process-bpf"
