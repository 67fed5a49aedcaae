#!/bin/bash
# The daemon under a service manager, against a notification socket the
# test owns (an abstract one, as systemd's can be): READY=1 once the
# sources are open (events right after it are delivered), STATUS= with
# rates, WATCHDOG=1 every half $WATCHDOG_USEC while the loop turns and
# none while a Lua timer callback spins for 3 s, RELOADING=1 (with
# MONOTONIC_USEC) then READY=1 around SIGHUP, a failed reload in STATUS,
# STOPPING=1 last at SIGTERM. Then logs in the journal's format when
# $JOURNAL_STREAM names stderr.
. "$(dirname "$0")/lib/common.sh"
ns_setup

SOCK="@nurs-ktest-notify-$$-$RANDOM"
N="$TMP/notify.log"
start_notify_listener "$SOCK" "$N" 60

cat >"$TMP/script.lua" <<LUA
local nurs = require "nurs"
local out = nurs.json { path = "$TMP/events.json", flush = 0.05 }
nurs.conntrack({ events = { "new" } }, out)
nurs.every(0.1, function()
  local f = io.open("$TMP/spin")
  if not f then return end
  f:close()
  os.remove("$TMP/spin")
  nurs.log.info("spinning")
  local t = os.clock()
  while os.clock() - t < 3 do end
  nurs.log.info("spun")
end)
LUA

# Waits until the notification log has $2 lines matching $1 (grep -E).
wait_notify() {
    local pattern=$1 want=${2:-1} i
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -cE -- "$pattern" "$N" || true)" -ge "$want" ] && return 0
        sleep 0.1
    done
    fail "no '$pattern' (x$want) from the daemon: $(cat "$N")"
}
count_notify() { grep -cE -- "$1" "$N" || true; }

# --budget 0: nothing stops the spinning callback but the watchdog.
NOTIFY_SOCKET=$SOCK WATCHDOG_USEC=500000 start_nurs "$TMP/stdout" --budget 0 "$TMP/script.lua"
wait_notify ' READY=1$'
# READY means listening: traffic right after it is seen.
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/traffic.py" --udp 3 >/dev/null
wait_lines "$TMP/events.json" 3 5 || fail "events right after READY=1 were not delivered"
grep -q "listening for conntrack events" "$TMP/nurs.log" || fail "READY=1 before the source was open"
wait_notify 'STATUS=conntrack [0-9]+ rec/s, json [0-9]+ rec/s; lost 0 \(overruns 0, dropped 0\), errors 0 \(timeouts 0\)'
echo "ok: READY=1 once the source is open, STATUS=$(grep STATUS "$N" | tail -1 | cut -d= -f2-)"

# Healthy: a keep-alive every 250 ms.
before=$(count_notify ' WATCHDOG=1$')
sleep 1.5
healthy=$(($(count_notify ' WATCHDOG=1$') - before))
[ "$healthy" -ge 4 ] || fail "$healthy WATCHDOG=1 in 1.5 s, want about 6"
echo "ok: $healthy WATCHDOG=1 in 1.5 s while healthy"

# A callback that spins for 3 s stops the keep-alives.
touch "$TMP/spin"
wait_log "spun" 10
sleep 0.6
gap=$(awk '/ WATCHDOG=1$/ { if (last && $1 - last > max) max = $1 - last; last = $1 } END { printf "%.2f", max }' "$N")
awk -v g="$gap" 'BEGIN { exit !(g >= 2.5) }' || fail "longest gap between WATCHDOG=1 is ${gap} s, want >= 2.5 s while Lua spins"
after=$(tail -2 "$N" | grep -c ' WATCHDOG=1$' || true)
[ "$after" -ge 1 ] || fail "no WATCHDOG=1 after the spin ended"
echo "ok: no WATCHDOG=1 for ${gap} s while a callback spun (systemd would restart at 0.5 s), then again"

# SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1 and a new STATUS.
mark=$(wc -l <"$N")
kill -HUP "$NURS_PID"
wait_log "reloaded"
wait_notify ' READY=1$' 2
tail -n +"$((mark + 1))" "$N" | grep -vE ' WATCHDOG=1$' | awk '{print $2}' | cut -d'|' -f1 | cut -d= -f1 | uniq |
    head -3 | tr '\n' ' ' >"$TMP/order"
[ "$(cat "$TMP/order")" = "RELOADING READY STATUS " ] || fail "around SIGHUP: $(cat "$TMP/order")"
grep -qE ' RELOADING=1\|MONOTONIC_USEC=[0-9]+$' "$N" || fail "RELOADING=1 without MONOTONIC_USEC: $(grep RELOADING "$N")"
echo "ok: RELOADING=1, READY=1, STATUS= around SIGHUP"

# A reload that fails: READY=1 (the old script runs) and STATUS says so.
cp "$TMP/script.lua" "$TMP/good.lua"
echo 'this is not lua (' >"$TMP/script.lua"
kill -HUP "$NURS_PID"
wait_notify ' READY=1$' 3
wait_notify 'STATUS=the last reload failed, the previous script runs; conntrack'
cp "$TMP/good.lua" "$TMP/script.lua"
echo "ok: a failed reload shows in STATUS="

stop_nurs
last=$(grep -vE ' (WATCHDOG=1|STATUS=.*)$' "$N" | tail -1 | cut -d' ' -f2)
[ "$last" = "STOPPING=1" ] || fail "the last message is '$last', want STOPPING=1"
[ "$(count_notify ' STOPPING=1$')" = 1 ] || fail "STOPPING=1 sent $(count_notify STOPPING) times"
echo "ok: STOPPING=1 at SIGTERM"

# Without NOTIFY_SOCKET nothing is sent, and WATCHDOG_USEC alone is harmless.
lines=$(wc -l <"$N")
WATCHDOG_USEC=100000 start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "listening"
sleep 0.3
stop_nurs
[ "$(wc -l <"$N")" = "$lines" ] || fail "datagrams without NOTIFY_SOCKET"

# The journal: "<N>" priorities and no timestamp of ours when
# $JOURNAL_STREAM is stderr's device:inode; the usual format otherwise.
: >"$TMP/journal"
cat >"$TMP/log.lua" <<'LUA'
local nurs = require "nurs"
nurs.log.debug("a debug line")
nurs.log.info("an info line")
nurs.log.warn("a warning")
nurs.log.error("an error\nsecond line")
LUA
JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/journal") "$NURS" --log-level debug "$TMP/log.lua" 2>>"$TMP/journal" || true
for want in '<7>[^ ]*log.lua:2: a debug line' '<6>[^ ]*log.lua:3: an info line' \
    '<4>[^ ]*log.lua:4: a warning' '<3>[^ ]*log.lua:5: an error' '<3>second line'; do
    grep -qxE "$want" "$TMP/journal" || fail "journal format: no line '$want' in: $(cat "$TMP/journal")"
done
grep -vE '^<[3467]>' "$TMP/journal" && fail "a line without a priority prefix"
JOURNAL_STREAM=1:1 "$NURS" "$TMP/log.lua" 2>"$TMP/plain" || true
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z nurs-lua info: [^ ]*log.lua:3: an info line$' "$TMP/plain" ||
    fail "another JOURNAL_STREAM: not the usual format: $(cat "$TMP/plain")"
echo "ok: journal priorities"
echo "ok: service"
