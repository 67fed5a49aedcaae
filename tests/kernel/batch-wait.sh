#!/bin/bash
# batch_wait: after reading the events socket empty, the source leaves new
# events in the kernel's buffer for a while. Events still waiting there
# when the daemon gets SIGTERM are read and written before it exits; a
# reload while events wait keeps them too (the socket is adopted).
. "$(dirname "$0")/lib/common.sh"
ns_setup
cat >"$TMP/bw.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json {}
nurs.conntrack({ events = { "destroy" }, batch_wait = 1 }, out)
LUA

# One entry destroyed at base+i: a DESTROY event for dport base+i.
destroy() { # destroy PORT
    nsx timeout 10 python3 "$ROOT/tests/kernel/lib/udp_burst.py" 1 0.1 "$1" >/dev/null
    nsx conntrack -D -p udp --dport "$1" >/dev/null 2>&1 || fail "no entry for port $1"
}
has_port() { grep -q "\"dport\":$2[,}]" "$1"; }

start_nurs "$TMP/out.json" "$TMP/bw.lua"
wait_log "listening"
# The first event is read at once and starts a one-second wait...
destroy 37000
wait_lines "$TMP/out.json" 1 5 || fail "the first event was not read"
# ...in which these stay in the kernel's buffer: a reload, then the exit.
destroy 37001
kill -HUP "$NURS_PID"
wait_log "reload"
destroy 37002
stop_nurs
for p in 37000 37001 37002; do
    has_port "$TMP/out.json" $p || fail "the DESTROY event of port $p is missing: $(cat "$TMP/out.json")"
done
n=$(wc -l <"$TMP/out.json")
[ "$n" -eq 3 ] || fail "$n records, want 3"
echo "PASS batch-wait: events waiting at a reload and at exit are delivered"
