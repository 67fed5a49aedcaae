#!/bin/bash
# What an operator sees: a clear error without CAP_NET_ADMIN; --check
# opens no socket; SIGUSR1 logs counters; SIGHUP reopens the JSON file
# after logrotate moved it; kernel overruns are counted, logged and grow
# the receive buffer; SIGTERM flushes and exits 0.
. "$(dirname "$0")/lib/common.sh"
ns_setup

# 1. No CAP_NET_ADMIN: exit 1 with a message that says what is missing.
cp "$ROOT/scripts/examples/ct-json.lua" "$TMP/ct.lua"
chmod 755 "$TMP"
set +e
nsx setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
    "$NURS" "$TMP/ct.lua" >/dev/null 2>"$TMP/noperm.log"
rc=$?
set -e
[ $rc -eq 1 ] || fail "unprivileged run exited $rc, want 1"
grep -q "CAP_NET_ADMIN" "$TMP/noperm.log" || fail "no CAP_NET_ADMIN hint: $(cat "$TMP/noperm.log")"
grep -q "ct.lua:[0-9]*:" "$TMP/noperm.log" || fail "error does not name file:line: $(cat "$TMP/noperm.log")"

# 2. --check loads and validates, opens nothing, even unprivileged.
nsx setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
    "$NURS" --check "$TMP/ct.lua" >/dev/null || fail "--check failed unprivileged"
echo 'local nurs = require "nurs"; nurs.conntrack { events = { "nwe" } }' >"$TMP/bad.lua"
if "$NURS" --check "$TMP/bad.lua" 2>"$TMP/check.log"; then fail "--check accepted a bad script"; fi
grep -q "bad.lua:1: nurs.conntrack: unknown event 'nwe'" "$TMP/check.log" || fail "check error: $(cat "$TMP/check.log")"

# 3. Rotation, counters, overruns: a tiny buffer and a burst of events.
cat >"$TMP/rot.lua" <<LUA
local nurs = require "nurs"
local out = nurs.json { path = "$TMP/ct.json", flush = 0.05 }
nurs.conntrack({ events = { "new" }, rcvbuf = 4096, rcvbuf_max = 1 << 20 }, function(rec)
  out:write(rec)
end)
LUA
start_nurs "$TMP/stdout" "$TMP/rot.lua"
wait_log "listening"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" 20000 0.2 10000 >/dev/null
wait_log "receive buffer overrun" 10 || fail "no overrun logged with a 4 KiB buffer"
wait_log "receive buffer now" 10 || fail "buffer did not grow"
sleep 0.5
kill -USR1 "$NURS_PID"
wait_log "counters conntrack: in=[0-9]* delivered=[0-9]* errors=0 overruns=[1-9]" 5 ||
    fail "SIGUSR1 did not log overruns"
mv "$TMP/ct.json" "$TMP/ct.json.1"
kill -HUP "$NURS_PID"
wait_log "reloaded"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" 50 0.2 40000 >/dev/null
sleep 0.5
stop_nurs
[ -s "$TMP/ct.json" ] || fail "no new file after SIGHUP"
grep -q '"dport":40000' "$TMP/ct.json" || fail "events after rotation not in the new file"
if grep -q '"dport":40000' "$TMP/ct.json.1"; then fail "events after rotation went to the old file"; fi
python3 -c '
import json, sys
for f in sys.argv[1:]:
    for line in open(f):
        json.loads(line)
' "$TMP/ct.json" "$TMP/ct.json.1" || fail "invalid JSON line"
grep -q "SIGTERM\|Terminated: flushing" "$TMP/nurs.log" || fail "no exit message on SIGTERM"

# 4. SIGTERM flushes what a sink still buffers.
cat >"$TMP/exit.lua" <<LUA
local nurs = require "nurs"
local out = nurs.json { path = arg[1], flush = 3600, buffer = 1 << 20 }
for i = 1, 1000 do out:write { i = i } end
nurs.every(1, function() end)
LUA
start_nurs "$TMP/stdout" "$TMP/exit.lua" "$TMP/exit.json"
sleep 0.5
[ "$(wc -l <"$TMP/exit.json")" -eq 0 ] || fail "sink flushed before its time"
stop_nurs
[ "$(wc -l <"$TMP/exit.json")" -eq 1000 ] || fail "SIGTERM lost buffered records"

# 5. An installed tree finds its modules.
cmake --install "$(dirname "$NURS")" --prefix "$TMP/inst" >/dev/null
echo 'print(require("nurs").version)' >"$TMP/v.lua"
[ -n "$("$TMP/inst/bin/nurs-lua" "$TMP/v.lua")" ] || fail "installed binary cannot load nurs"
echo "ok: operator"
