#!/bin/bash
# The Debian package installed for real, run as the service runs, purged:
#  1. dpkg -i: the binary, man pages, modules, examples, the unit (not
#     enabled), the conffile, the nurs-lua system user and its directories;
#  2. the unit: systemd-analyze verify says nothing, and its exposure
#     (systemd-analyze security --offline) is below 4.0 ("OK"); a unit with
#     only ExecStart= is scored beside it;
#  3. as nurs-lua with only the unit's capabilities, in a private network
#     namespace: every example passes --check; the unit's ExecStart= (the
#     shipped /etc/nurs-lua/nurs-lua.lua) sends READY=1 and exports NetFlow
#     v9 to 127.0.0.1:2055; ct-json.lua writes into /var/log/nurs-lua;
#  4. CMD (optional) runs while the package is installed, with
#     NURS=/usr/bin/nurs-lua and NURS_AS_USER=nurs-lua;
#  5. dpkg --purge leaves no file, user or group of ours behind.
# It refuses to run where nurs-lua is installed or its user or /etc/nurs-lua
# exist (a purge would take them), and purges on any failure.
#   tests/package/roundtrip.sh DEB [CMD...]
. "$(dirname "$0")/../kernel/lib/common.sh"
DEB=${1:?usage: roundtrip.sh DEB [CMD...]}
shift
UNIT=/lib/systemd/system/nurs-lua.service

# Everything of ours on this machine, one line each.
ours() {
    find /etc /usr /lib /var/lib /var/log /var/cache /run -xdev -name '*nurs-lua*' \
        -not -path '/var/lib/dpkg/*' -not -path '/var/cache/apt/*' 2>/dev/null | sort
    ls /var/lib/dpkg/info/nurs-lua.* 2>/dev/null || true
    grep -h '^nurs-lua:' /etc/passwd /etc/group /etc/shadow /etc/gshadow 2>/dev/null || true
}

if dpkg-query -W -f='${db:Status-Status}' nurs-lua 2>/dev/null | grep -qv '^not-installed$'; then
    fail "nurs-lua is installed here: this test would purge it (dpkg --purge nurs-lua first)"
fi
getent passwd nurs-lua >/dev/null && fail "a nurs-lua user exists: this test would delete it"
[ -e /etc/nurs-lua ] && fail "/etc/nurs-lua exists: this test would delete it"

# dpkg with the lock held by another apt or dpkg: wait (bounded) and retry.
DPKG_LOG=$(mktemp /tmp/nurs-dpkg.XXXXXX)
dpkg_locked() { # dpkg_locked ARGS...
    local i
    for ((i = 0; i < 60; i++)); do
        if dpkg "$@" >"$DPKG_LOG" 2>&1; then return 0; fi
        grep -q 'lock' "$DPKG_LOG" || { cat "$DPKG_LOG" >&2; return 1; }
        sleep 2
    done
    cat "$DPKG_LOG" >&2
    return 1
}
INSTALLED=
purge_if_installed() {
    [ -n "$INSTALLED" ] || return 0
    INSTALLED=
    dpkg_locked --purge nurs-lua || echo "WARNING: dpkg --purge nurs-lua failed" >&2
}
# The daemons stop first: deluser refuses a user that still runs processes.
trap 'cleanup; purge_if_installed; rm -f "$DPKG_LOG"' EXIT

before=$(ours)
INSTALLED=1
dpkg_locked -i "$DEB" || fail "dpkg -i $DEB"

# ---- 1. what the package installed ----
for f in /usr/bin/nurs-lua /usr/share/nurs-lua/lua/nurs/init.lua /usr/share/nurs-lua/examples/ctflow9.lua \
    /usr/share/doc/nurs-lua/lua-api.md.gz /etc/nurs-lua/nurs-lua.lua "$UNIT"; do
    [ -f "$f" ] || fail "not installed: $f"
done
for page in "8 nurs-lua" "7 nurs-lua-lua"; do
    # shellcheck disable=SC2086
    man -w $page >/dev/null || fail "no man page $page"
    # shellcheck disable=SC2086
    MANWIDTH=80 man $page 2>/dev/null | grep -q '^NAME' || fail "man $page does not render"
done
dpkg-query -W -f='${Conffiles}' nurs-lua | grep -q '/etc/nurs-lua/nurs-lua.lua' ||
    fail "/etc/nurs-lua/nurs-lua.lua is not a conffile"
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd nurs-lua) || fail "no nurs-lua user"
[ "$uid" -lt 1000 ] && [ "$home" = /var/lib/nurs-lua ] && [ "$shell" = /usr/sbin/nologin ] ||
    fail "nurs-lua user: uid $uid, home $home, shell $shell"
for d in /var/lib/nurs-lua /var/log/nurs-lua; do
    [ "$(stat -c %U "$d")" = nurs-lua ] || fail "$d is not nurs-lua's"
done
ls /etc/systemd/system/*.wants/nurs-lua.service 2>/dev/null && fail "the unit was enabled on install"
echo "ok: installed: binary, man pages, modules, examples, docs, conffile, unit (not enabled), user"

# ---- 2. the unit ----
systemd-analyze verify "$UNIT" >"$TMP/verify" 2>&1 || fail "systemd-analyze verify: $(cat "$TMP/verify")"
[ ! -s "$TMP/verify" ] || fail "systemd-analyze verify: $(cat "$TMP/verify")"
printf '[Service]\nExecStart=/usr/bin/nurs-lua /etc/nurs-lua/nurs-lua.lua\n' >"$TMP/plain.service"
exposure() { systemd-analyze security --offline=true "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'; }
plain=$(exposure "$TMP/plain.service")
score=$(exposure "$UNIT")
[ -n "$score" ] || fail "no exposure score for $UNIT"
awk -v s="$score" 'BEGIN { exit !(s < 4.0) }' || fail "exposure $score, want below 4.0"
echo "ok: systemd-analyze verify clean; exposure $score (a unit with only ExecStart=: $plain)"

# ---- 3. as the service runs ----
ns_setup
run_as_service_user nurs-lua
. "$ROOT/tests/example-args.sh"
for ex in /usr/share/nurs-lua/examples/*.lua; do
    read -ra args <<<"$(example_args "$ex")"
    (cd / && "${NURS_AS[@]}" /usr/bin/nurs-lua --check "$ex" "${args[@]}" >/dev/null 2>"$TMP/check") ||
        fail "--check $ex as nurs-lua: $(cat "$TMP/check")"
done
echo "ok: every example passes --check as nurs-lua"

NURS=/usr/bin/nurs-lua
SOCK="@nurs-pkg-notify-$$"
start_notify_listener "$SOCK" "$TMP/notify" 30
nsx python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 2055)); s.settimeout(20)
data = s.recv(65535)
sys.stdout.write("version %d, %d bytes\n" % (int.from_bytes(data[:2], "big"), len(data)))
' >"$TMP/collector" 2>&1 &
COLLECTOR=$!
PIDS+=("$COLLECTOR")
for ((i = 0; i < 50; i++)); do nsx ss -Hlun 'sport = 2055' | grep -q . && break; sleep 0.1; done
# The unit's own command line.
read -ra exec_start < <(sed -n 's/^ExecStart=//p' "$UNIT")
[ "${exec_start[0]}" = /usr/bin/nurs-lua ] || fail "ExecStart=${exec_start[*]}"
NOTIFY_SOCKET=$SOCK start_nurs "$TMP/stdout" "${exec_start[@]:1}"
for ((i = 0; i < 100; i++)); do grep -q ' READY=1$' "$TMP/notify" 2>/dev/null && break; sleep 0.1; done
grep -q ' READY=1$' "$TMP/notify" 2>/dev/null || fail "no READY=1 from the shipped script: $(cat "$TMP/nurs.log")"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/traffic.py" --tcp 1 --udp 1 >/dev/null
nsx conntrack -F 2>/dev/null
timeout 20 tail -s 0.05 --pid="$COLLECTOR" -f /dev/null || true
grep -q '^version 9, ' "$TMP/collector" || fail "no NetFlow v9 at 127.0.0.1:2055: $(cat "$TMP/collector") $(cat "$TMP/nurs.log")"
stop_nurs
echo "ok: the shipped script, as nurs-lua: READY=1, NetFlow v9 to 127.0.0.1:2055 ($(cat "$TMP/collector"))"

start_nurs "$TMP/stdout" /usr/share/nurs-lua/examples/ct-json.lua /var/log/nurs-lua/ct.json
wait_log "listening"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/traffic.py" --udp 2 >/dev/null
wait_lines /var/log/nurs-lua/ct.json 2 10 || fail "nothing in /var/log/nurs-lua/ct.json"
stop_nurs
echo "ok: ct-json.lua as nurs-lua writes /var/log/nurs-lua/ct.json"

# ---- 4. whatever else needs the package ----
if [ $# -gt 0 ]; then
    rc=0
    NURS=/usr/bin/nurs-lua NURS_AS_USER=nurs-lua "$@" || rc=$?
    [ $rc = 0 ] || fail "$* failed while the package was installed (exit $rc)"
fi

# ---- 5. purge ----
purge_if_installed
after=$(ours)
[ "$before" = "$after" ] || fail "left behind by dpkg --purge: $(diff <(echo "$before") <(echo "$after") | grep '^>')"
getent passwd nurs-lua >/dev/null && fail "the nurs-lua user is still there"
getent group nurs-lua >/dev/null && fail "the nurs-lua group is still there"
echo "ok: dpkg --purge left nothing of ours"
echo "ok: package round trip"
