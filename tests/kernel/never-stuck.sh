#!/bin/bash
# A Lua call that never returns cannot stop the daemon, in a namespace with
# an NFQUEUE served by the same process:
#  1. a conntrack callback and a timer that loop forever are stopped at
#     their time budget (--budget), counted, logged; queued packets keep
#     getting their verdicts all the while;
#  2. a reload whose top level loops forever fails at --load-budget and the
#     running script goes on (packets still pass);
#  3. SIGTERM while a callback loops (budget far away) stops the call at
#     once, flushes the sinks and exits 0 within a bound;
#  4. SIGTERM while the first top level loops (a slow start) is a stop, not
#     a failure: exit 0 within a bound.
. "$(dirname "$0")/lib/common.sh"
ns_setup
UDP="$ROOT/tests/kernel/lib/nfq_udp.py"
Q=3
nsx nft add rule inet nurs_test out udp dport 9998 queue num $Q bypass 2>/dev/null ||
    nsx iptables -A OUTPUT -p udp --dport 9998 -j NFQUEUE --queue-num $Q --queue-bypass

cat >"$TMP/stuck.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[1], flush = 3600 }
nurs.nfqueue({ queue = 3 }, function(rec) return "accept" end)
local spun = false
nurs.conntrack({ events = { "new" } }, function(rec)
  out:write { event = rec.event }
  if not spun then spun = true; while true do end end
end)
nurs.after(0.2, function() out:write { timer = "spins" }; while true do end end)
LUA
cat >"$TMP/looping-top.lua" <<'LUA'
local nurs = require "nurs"
nurs.nfqueue({ queue = 3 }, function(rec) return "accept" end)
while true do end
LUA
count() { grep "counters $1:" "$TMP/nurs.log" | tail -1 | grep -o " $2=[0-9]*" | cut -d= -f2; }

# ---- 1. stopped at the budget, traffic goes on ----
start_nurs "$TMP/stdout" --budget 0.3 --load-budget 1 "$TMP/stuck.lua" "$TMP/out.json"
wait_log "bound to queue $Q"
nsx timeout 60 python3 "$UDP" 100 0.5 9998 >"$TMP/udp.out"
grep -q "^9998 100 100$" "$TMP/udp.out" || fail "queued packets lost while callbacks spin: $(cat "$TMP/udp.out")"
wait_log "timer: .*time budget of 300 ms exceeded"
wait_log "conntrack: .*time budget of 300 ms exceeded"
echo "ok: spinning callbacks stopped at 300 ms; 100 of 100 queued packets passed"

# ---- 2. a reload whose top level never ends ----
cp "$TMP/looping-top.lua" "$TMP/stuck.lua"
t0=$(date +%s.%N)
kill -HUP "$NURS_PID"
wait_log "reload of .* failed; the running script goes on" 10
elapsed=$(echo "$(date +%s.%N) - $t0" | bc)
grep -q "top level ran too long" "$TMP/nurs.log" || fail "the load budget is not named"
[ "$(echo "$elapsed < 5" | bc)" = 1 ] || fail "the failed reload took ${elapsed} s"
nsx timeout 60 python3 "$UDP" 50 0.2 9998 >"$TMP/udp.out"
grep -q "^9998 50 50$" "$TMP/udp.out" || fail "packets lost after the failed reload: $(cat "$TMP/udp.out")"
stop_nurs
[ "$(count conntrack timeouts)" = 1 ] || fail "conntrack timeouts=$(count conntrack timeouts), want 1"
[ "$(count conntrack errors)" = 1 ] || fail "conntrack errors=$(count conntrack errors), want 1"
grep -q "counters script: errors=1 timeouts=1" "$TMP/nurs.log" || fail "the timer's stop is not counted"
[ "$(count nfqueue accept)" = 150 ] || fail "nfqueue accept=$(count nfqueue accept), want 150"
echo "ok: a reload looping at its top level failed after ${elapsed} s; the old script went on"

# ---- 3. SIGTERM stops a long call, flushes, exits 0 ----
cat >"$TMP/stuck.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[1], flush = 3600 }
out:write { before = "the spin" }
nurs.after(0.2, function() while true do end end)
LUA
rm -f "$TMP/out.json"
: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" --budget 600 "$TMP/stuck.lua" "$TMP/out.json"
sleep 1
t0=$(date +%s.%N)
kill -TERM "$NURS_PID"
timeout 5 tail -s 0.05 --pid="$NURS_PID" -f /dev/null || fail "no exit within 5 s of SIGTERM while a callback spins"
wait "$NURS_PID" || fail "exit code $? after SIGTERM"
elapsed=$(echo "$(date +%s.%N) - $t0" | bc)
grep -q "interrupted by SIGTERM" "$TMP/nurs.log" || fail "the interrupted call is not logged: $(cat "$TMP/nurs.log")"
grep -q '"before":"the spin"' "$TMP/out.json" || fail "the JSON sink was not flushed at exit"
echo "ok: SIGTERM during an endless callback: exit 0 after ${elapsed} s, sinks flushed"

# ---- 4. SIGTERM during a slow start ----
: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" --load-budget 600 "$TMP/looping-top.lua"
sleep 1
kill -TERM "$NURS_PID"
timeout 5 tail -s 0.05 --pid="$NURS_PID" -f /dev/null || fail "no exit within 5 s of SIGTERM during the top level"
wait "$NURS_PID" || fail "exit code $? after SIGTERM during the top level (a stop is not a failure)"
grep -q "SIGTERM while the script was loading" "$TMP/nurs.log" || fail "the stop is not logged: $(cat "$TMP/nurs.log")"
echo "ok: SIGTERM during a looping first top level: exit 0"
echo "ok: never-stuck"
