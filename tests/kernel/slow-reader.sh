#!/bin/bash
# JSON lines on standard output, piped into a reader far slower than the
# records come (a replay as fast as it goes), in the same process as an
# NFQUEUE: the queue keeps getting its verdicts (a blocking write to the
# pipe froze the loop, and no queued packet passed), the reader gets whole
# lines, what it could not take is counted, and SIGTERM exits at once.
. "$(dirname "$0")/lib/common.sh"
ns_setup
Q=3
nsx nft add rule inet nurs_test out udp dport 9998 queue num $Q 2>/dev/null ||
    nsx iptables -A OUTPUT -p udp --dport 9998 -j NFQUEUE --queue-num $Q
"${NURS%/nurs-lua}/tools/ct-synth" 20000 "$TMP/ct.pcap" 9 2>/dev/null
cat >"$TMP/slow.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json()
nurs.nfqueue({ queue = 3 }, function(rec) return "accept" end)
nurs.replay({ path = arg[1], loops = 1000000, at_end = "continue" }, out)
LUA
mkfifo "$TMP/stdout.fifo"
# 1 KiB every 50 ms: 20 KiB/s.
timeout 60 python3 -c '
import sys, time
with open(sys.argv[1], "rb") as f, open(sys.argv[2], "wb") as out:
    while True:
        b = f.read1(1024)
        if not b: break
        out.write(b)
        time.sleep(0.05)' "$TMP/stdout.fifo" "$TMP/read.json" &
READER=$!; PIDS+=("$READER")
start_nurs "$TMP/stdout.fifo" "$TMP/slow.lua" "$TMP/ct.pcap"
wait_log "bound to queue $Q"
nsx timeout 60 python3 "$ROOT/tests/kernel/lib/nfq_udp.py" 50 0.5 9998 >"$TMP/udp.out"
grep -q "^9998 50 50$" "$TMP/udp.out" || fail "queued packets lost behind a slow reader: $(cat "$TMP/udp.out")"
kill -USR1 "$NURS_PID"
wait_log "counters json:"
t0=$(date +%s%N)
stop_nurs
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
# Bounded by the stream's linger at exit: 2 s, then the chunk in hand (5 s at most).
[ "$ms" -lt 8000 ] || fail "SIGTERM took $ms ms"
drops=$(grep "counters json:" "$TMP/nurs.log" | tail -1 | grep -o "reader_drops=[0-9]*" | cut -d= -f2 || true)
[ "${drops:-0}" -gt 0 ] || fail "nothing dropped for a reader that slow?"
# The reader drains the pipe (64 KiB at 20 KiB/s), then sees its end.
timeout 20 tail -s 0.05 --pid="$READER" -f /dev/null || fail "the reader did not see the end of the pipe"
jq -e . "$TMP/read.json" >/dev/null || fail "the reader got a torn line"
echo "ok: slow-reader (50 of 50 queued packets passed, $drops lines dropped for the reader, $(wc -l <"$TMP/read.json") whole lines read, SIGTERM in $ms ms)"
