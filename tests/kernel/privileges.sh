#!/bin/bash
# Least privilege, as an unprivileged user (nobody) in a private namespace:
#  1. without CAP_NET_ADMIN each kind of source fails to open, exit 1,
#     with a message naming the capability;
#  2. with only CAP_NET_ADMIN (as the unit grants it, ambient) the daemon
#     runs, and clears its ambient set (a script's children get nothing);
#     process attribution says which capabilities it lacks, and with them
#     names another user's process;
#  3. --user from root: after the sockets are open, the daemon runs as the
#     user with CAP_NET_ADMIN only (and the /proc capabilities when the
#     script attributes processes), events flow, and a reload can still
#     open a new source;
#  4. --user mistakes: unknown user (exit 2), started unprivileged (exit 1).
. "$(dirname "$0")/lib/common.sh"
ns_setup
USER_=nobody
getent passwd $USER_ >/dev/null || fail "no user $USER_"
chmod 755 "$TMP"
OUT="$TMP/out"
mkdir "$OUT" && chown $USER_ "$OUT"
EX="$ROOT/scripts/examples"

as_user() { # as_user CAPS: sets AS to run a command in the namespace as
    # $USER_ with CAPS (like +net_admin, or "" for none), ambient as systemd gives them
    local caps=$1 c=(--inh-caps=-all --ambient-caps=-all --bounding-set=-all)
    [ -n "$caps" ] && c=(--inh-caps=-all,"$caps" --ambient-caps=-all,"$caps" --bounding-set=-all,"$caps")
    AS=(ip netns exec "$NS" setpriv --reuid=$USER_ --regid="$(id -g $USER_)" --init-groups --no-new-privs "${c[@]}" --)
}
caps_of() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

# ---- 1. no capability: a clear error for each kind of source ----
for case in "conntrack|$EX/ct-json.lua|subscribing to conntrack events needs CAP_NET_ADMIN" \
    "nflog|$EX/nflog-pcap.lua 5 $OUT/x.pcap|NFLOG needs CAP_NET_ADMIN" \
    "nfqueue|$EX/nfq-filter.lua 3|binding queue 3 needs CAP_NET_ADMIN"; do
    IFS='|' read -r kind cmd msg <<<"$case"
    rc=0
    # shellcheck disable=SC2086
    as_user ""
    "${AS[@]}" timeout 10 "$NURS" $cmd >/dev/null 2>"$TMP/err" || rc=$?
    [ $rc = 1 ] || fail "$kind without CAP_NET_ADMIN: exit $rc, want 1: $(cat "$TMP/err")"
    grep -q "$msg (run as root or grant the capability)" "$TMP/err" ||
        fail "$kind without CAP_NET_ADMIN: no '$msg' in: $(cat "$TMP/err")"
done
echo "ok: without CAP_NET_ADMIN, conntrack, NFLOG and NFQUEUE say which capability they need"

# ---- 2. CAP_NET_ADMIN only, ambient as systemd gives it ----
as_user +net_admin
"${AS[@]}" "$NURS" "$EX/ct-json.lua" - destroy process >"$TMP/attr.json" 2>"$TMP/nurs.log" &
NURS_PID=$!
PIDS+=("$NURS_PID")
wait_log "listening for conntrack events"
[ "$(caps_of $NURS_PID CapEff)" = 0000000000001000 ] || fail "CapEff $(caps_of $NURS_PID CapEff)"
[ "$(caps_of $NURS_PID CapAmb)" = 0000000000000000 ] || fail "ambient set not cleared: $(caps_of $NURS_PID CapAmb)"
# A connection of root's, open until the warning: its /proc/PID/fd is not
# ours to read.
nsx timeout 60 python3 "$ROOT/tests/kernel/lib/longconn.py" 9111 1 0.1 "$TMP/go" >/dev/null &
PIDS+=($!)
wait_log "process attribution: the descriptors of other users' processes cannot be read.*needs CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE" 20
touch "$TMP/go"
sleep 0.3
nsx conntrack -F 2>/dev/null
stop_nurs
grep -q '"uid":0' "$TMP/attr.json" || fail "the uid is still reported: $(head -c 1000 "$TMP/attr.json")"
grep -q 'process_denied=[1-9]' "$TMP/nurs.log" || fail "process_denied not counted"
echo "ok: CAP_NET_ADMIN only: runs, ambient set cleared, attribution names what it lacks"

# With the two it names (the unit's drop-in for attribution), root's
# process is found.
as_user +net_admin,+dac_read_search,+sys_ptrace
"${AS[@]}" "$NURS" "$EX/ct-json.lua" - destroy process >"$TMP/attr2.json" 2>"$TMP/nurs.log" &
NURS_PID=$!
PIDS+=("$NURS_PID")
wait_log "listening for conntrack events"
rm -f "$TMP/go"
nsx timeout 60 python3 "$ROOT/tests/kernel/lib/longconn.py" 9112 1 0.1 "$TMP/go" >/dev/null &
CONN=$!
PIDS+=("$CONN")
sleep 1
touch "$TMP/go"
wait "$CONN" || fail "longconn.py failed"
nsx conntrack -F 2>/dev/null
wait_lines "$TMP/attr2.json" 1 10 || fail "no record"
stop_nurs
grep -q '"process":{"pid":[0-9]*,"name":"python3"' "$TMP/attr2.json" ||
    fail "with CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, no process: $(head -c 1000 "$TMP/attr2.json")"
grep -q 'permission denied' "$TMP/nurs.log" && fail "still denied: $(cat "$TMP/nurs.log")"
echo "ok: with CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE too, another user's process is named"

# ---- 3. --user from root ----
cat >"$TMP/user.lua" <<LUA
local nurs = require "nurs"
local out = nurs.json { path = "$OUT/ct.json", flush = 0.05 }
nurs.conntrack({ events = { "new" } }, out)
if io.open("$TMP/add-nflog") then nurs.nflog({ group = 7 }, function() end) end
LUA
: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" --user $USER_ "$TMP/user.lua"
wait_log "running as user $USER_ (uid [0-9]*, gid [0-9]*) with CAP_NET_ADMIN$"
[ "$(stat -c %U /proc/$NURS_PID)" = $USER_ ] || fail "runs as $(stat -c %U /proc/$NURS_PID)"
grep -q "^Groups:.*$(id -g $USER_)" /proc/$NURS_PID/status || fail "groups: $(grep Groups /proc/$NURS_PID/status)"
for set in CapEff CapPrm; do
    [ "$(caps_of $NURS_PID $set)" = 0000000000001000 ] || fail "--user: $set $(caps_of $NURS_PID $set)"
done
for set in CapInh CapAmb; do
    [ "$(caps_of $NURS_PID $set)" = 0000000000000000 ] || fail "--user: $set $(caps_of $NURS_PID $set)"
done
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/traffic.py" --udp 2 >/dev/null
wait_lines "$OUT/ct.json" 2 5 || fail "--user: no events"
touch "$TMP/add-nflog"
kill -HUP "$NURS_PID"
wait_log "reloaded"
grep -q "listening for NFLOG group 7" "$TMP/nurs.log" || fail "--user: a reload could not open NFLOG: $(cat "$TMP/nurs.log")"
stop_nurs
echo "ok: --user $USER_: CAP_NET_ADMIN only, events flow, a reload opens a new source"

: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" --user $USER_ --group daemon "$EX/ct-json.lua" - destroy process
wait_log "running as user $USER_ (uid [0-9]*, gid $(getent group daemon | cut -d: -f3)) with CAP_NET_ADMIN CAP_SYS_PTRACE CAP_DAC_READ_SEARCH$"
[ "$(caps_of $NURS_PID CapEff)" = 0000000000081004 ] || fail "--user with attribution: CapEff $(caps_of $NURS_PID CapEff)"
stop_nurs
echo "ok: --user with process attribution keeps CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, --group"

# ---- 4. mistakes ----
rc=0
"$NURS" --user no-such-user-$$ "$TMP/user.lua" 2>"$TMP/err" || rc=$?
[ $rc = 2 ] && grep -q "no such user" "$TMP/err" || fail "unknown user: exit $rc: $(cat "$TMP/err")"
echo 'require("nurs").after(5, function() end)' >"$TMP/idle.lua"
rc=0
as_user ""
"${AS[@]}" timeout 10 "$NURS" --user root "$TMP/idle.lua" 2>"$TMP/err" || rc=$?
[ $rc = 1 ] && grep -q -- "--user root: " "$TMP/err" || fail "--user unprivileged: exit $rc: $(cat "$TMP/err")"
echo "ok: --user mistakes: $(grep -- '--user root' "$TMP/err" | sed 's/.*error: //')"
echo "ok: privileges"
