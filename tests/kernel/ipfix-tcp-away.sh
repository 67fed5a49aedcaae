#!/bin/bash
# IPFIX over TCP while the collector is away. ctipfix.lua starts with no
# listener; the flows of a burst of connections wait in its queue; a
# listener starts: templates come first, then every queued record, once.
# The listener goes away and comes back: the exporter reconnects (back-off),
# sends templates first again, the flows made meanwhile arrive, sequence
# numbers run on across the two connections, and SIGUSR1's counters say
# it: two connects, nothing lost. A second exporter with the smallest queue
# loses records while away: its `lost` counter, its `dropped` counter and
# the notSentFlowTotalCount the collector receives all say how many, and
# with what arrived they add up to every record it made.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
A=4740 # ctipfix.lua
B=4741 # the small queue
collector_notrack "tcp dport $A" "tcp sport $A" "tcp dport $B" "tcp sport $B"
BURST1=2000
BURST2=300

cat >"$TMP/small.lua" <<'LUA'
local nurs = require "nurs"
local exporter = nurs.ipfix { collector = arg[1], templates = require("nurs.templates").ipfix,
                              queue = 65536 }
nurs.conntrack({ events = { "destroy" } }, function(rec) exporter:export(rec) end)
LUA

listen() { # listen PORT FILE: one connection's stream into FILE
    ip netns exec "$NS" timeout 60 socat -u TCP-LISTEN:"$1",bind=127.0.0.1,reuseaddr \
        OPEN:"$2",creat,trunc 2>>"$TMP/socat.log" &
    LISTENER=$!
    PIDS+=("$LISTENER")
}
# settled FILE RECORDS: FILE holds at least RECORDS IPv4 records (77 bytes
# each in ctipfix.lua's template) and has stopped growing.
settled() {
    local prev=-1 size i
    for ((i = 0; i < 50; i++)); do
        sleep 0.2
        size=$(stat -c %s "$1" 2>/dev/null || echo 0)
        [ "$size" -ge $(($2 * 77)) ] && [ "$size" = "$prev" ] && return 0
        prev=$size
    done
    fail "$1 did not settle"
}
burst() { # burst COUNT BASE_PORT: COUNT entries with counters, then their end
    nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" "$1" 0.3 "$2" >/dev/null
    nsx conntrack -F 2>/dev/null
}

start_nurs_log "$TMP/a.log" -l debug "$ROOT/scripts/examples/ctipfix.lua" tcp://127.0.0.1:$A
PA=$NURS_PID
start_nurs_log "$TMP/b.log" "$TMP/small.lua" tcp://127.0.0.1:$B
PB=$NURS_PID
wait_grep "$TMP/a.log" "cannot connect" 10 || fail "no connection error without a listener"
wait_grep "$TMP/b.log" "cannot connect" 10 || fail "no connection error without a listener"

# 1. Away: the records wait (a's queue) or overflow (b's).
burst $BURST1 10000
wait_counter "$PA" "$TMP/a.log" conntrack in $(($(events_per_entry) * BURST1))
wait_grep "$TMP/b.log" "the collector is unreachable: queue full" 5 || fail "b's queue did not overflow"
sleep 1.2 # a's flush timer has put its records in the queue
listen $A "$TMP/a1.ipfix"
LA=$LISTENER
listen $B "$TMP/b1.ipfix"
LB=$LISTENER
wait_grep "$TMP/a.log" "connected" 10 || fail "a did not connect to the listener"
wait_grep "$TMP/b.log" "connected" 10 || fail "b did not connect to the listener"
made=$(counter "$TMP/a.log" ipfix records)
settled "$TMP/a1.ipfix" $BURST1

# 2. The listener goes and comes back.
kill "$LA"
wait_grep "$TMP/a.log" "the collector closed the connection" 10 || fail "a did not see the listener go"
burst $BURST2 20000
sleep 1.2
listen $A "$TMP/a2.ipfix"
for ((i = 0; i < 100; i++)); do
    [ "$(grep -c "collector tcp://127.0.0.1:$A: connected" "$TMP/a.log")" -ge 2 ] && break
    sleep 0.1
done
[ "$i" -lt 100 ] || fail "a did not reconnect: $(tail -5 "$TMP/a.log")"
settled "$TMP/a2.ipfix" $BURST2
kill -USR1 "$PA" "$PB"
wait_grep "$TMP/b.log" "counters ipfix:" 5 || fail "no counters from b"
sleep 0.2
# Back-off: 1 s after the first failure, then doubling; the first failure
# in a row is a warning, the next ones are for debugging only.
grep -q "warn: .*cannot connect: connection refused; reconnecting in 1 s" "$TMP/a.log" &&
    grep -q "debug: .*connection refused; reconnecting in 2 s" "$TMP/a.log" ||
    fail "no back-off: $(grep reconnecting "$TMP/a.log")"
[ "$(grep -c "warn: collector tcp://127.0.0.1:$A: cannot connect" "$TMP/a.log")" -le 2 ] ||
    fail "a refused connection is logged at every retry: $(grep -c "cannot connect" "$TMP/a.log")"
[ "$(counter "$TMP/a.log" ipfix connects)" = 2 ] || fail "a's connects: $(counter "$TMP/a.log" ipfix connects), want 2"
[ "$(counter "$TMP/a.log" ipfix lost)" = 0 ] || fail "a lost records"
lost=$(counter "$TMP/b.log" ipfix lost)
[ "$lost" -gt 0 ] || fail "b lost nothing with a 64 KiB queue"
[ "$(counter "$TMP/b.log" ipfix dropped)" = "$lost" ] || fail "b: dropped != lost"
stop_pid "$PA"
stop_pid "$PB"
timeout 10 tail -s 0.05 --pid="$LISTENER" -f /dev/null || fail "the listener did not see the end"
timeout 10 tail -s 0.05 --pid="$LB" -f /dev/null || fail "the listener did not see the end"

a_all=$(counter "$TMP/a.log" ipfix records)
s1=$(python3 "$FLOWCHECK" stream --version 10 --file "$TMP/a1.ipfix" --templates-first --seq-start 0 \
    --stats exact --records "$made" --dports 10000 $BURST1) || fail "first connection's stream"
next=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["next_sequence"]["0"])' <<<"$s1")
python3 "$FLOWCHECK" stream --version 10 --file "$TMP/a2.ipfix" --templates-first --seq-start "$next" \
    --records $((a_all - made)) --dports 20000 $BURST2 >/dev/null || fail "second connection's stream"
b_made=$(counter "$TMP/b.log" ipfix records)
python3 "$FLOWCHECK" stream --version 10 --file "$TMP/b1.ipfix" --templates-first --seq-start 0 \
    --records $((b_made - lost)) --notsent "$lost" >/dev/null || fail "the small queue's stream"
echo "ok: ipfix-tcp-away ($made records queued, $((a_all - made)) after a reconnect; small queue: $lost of $b_made lost and reported)"
