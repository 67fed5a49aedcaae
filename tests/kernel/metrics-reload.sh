#!/bin/bash
# SIGHUP keeps the metrics endpoint: the same listening socket (no scrape
# refused across the reload), the values of the script's metrics that the
# new script defines the same way; those it drops are gone, new limits
# apply, and a broken script leaves the endpoint serving.
. "$(dirname "$0")/lib/common.sh"
ns_setup

write_script() { # write_script MAX_CONNECTIONS WITH_GONE
    cat >"$TMP/script.lua" <<LUA
local nurs = require "nurs"
local m = nurs.metrics { listen = "127.0.0.1:9464", max_connections = $1 }
local ticks = m:counter { name = "ticks_total", help = "Timer ticks." }
if $2 then m:gauge { name = "gone", help = "Only in the first script." }:set(1) end
m:gauge { name = "generation", help = "Which script." }:set($1)
nurs.conntrack({ events = { "new" } }, function() end)
nurs.every(0.05, function() ticks:inc() end)
LUA
}
scrape() { nsx curl -s -m 2 http://127.0.0.1:9464/metrics; }
value() { scrape | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { print $2 }'; }
inode() { nsx ss -Hltne 'sport = :9464' 2>/dev/null | grep -o 'ino:[0-9]*'; }

write_script 16 true
start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "serving metrics"
sleep 0.5
ino=$(inode)
before=$(value ticks_total)
[ -n "$ino" ] && [ "${before:-0}" -gt 0 ] || fail "no ticks before the reload (ino '$ino', ticks '$before')"
[ "$(value gone)" = 1 ] || fail "no 'gone' gauge before the reload"
[ "$(value nurs_metrics_max_connections)" = 16 ] || fail "max_connections is not 16"

# Scrapes go on throughout the reload: none may be refused.
( for ((i = 0; i < 40; i++)); do
      nsx curl -s -m 2 -o /dev/null -w '%{http_code}\n' http://127.0.0.1:9464/metrics
      sleep 0.05
  done >"$TMP/codes" ) &
SCRAPER=$!
PIDS+=($SCRAPER)
write_script 32 false
kill -HUP "$NURS_PID"
wait_log "reloaded"
wait "$SCRAPER"
[ "$(sort -u "$TMP/codes")" = 200 ] || fail "scrapes across the reload: $(sort "$TMP/codes" | uniq -c | tr '\n' ' ')"
[ "$(inode)" = "$ino" ] || fail "the listening socket changed: $ino -> $(inode)"
after=$(value ticks_total)
[ "$after" -ge "$before" ] || fail "ticks went back from $before to $after"
[ -z "$(value gone)" ] || fail "'gone' is still there"
[ "$(value generation)" = 32 ] || fail "the new script's gauge is not there"
[ "$(value nurs_metrics_max_connections)" = 32 ] || fail "the new limit does not apply"

# A broken script: the old one goes on, and so does the endpoint.
echo 'this is not lua (' >"$TMP/script.lua"
kill -HUP "$NURS_PID"
wait_log "reload of .* failed"
[ "$(value generation)" = 32 ] || fail "the endpoint stopped after a failed reload"
[ "$(inode)" = "$ino" ] || fail "the listening socket changed after a failed reload"
stop_nurs
echo "ok: metrics-reload (ticks $before -> $after across the reload, same socket $ino)"
