#!/bin/bash
# Worker loops, in a private namespace, checked with the kernel's view
# (what reaches the receiving sockets, iptables/nft counters, packets left
# waiting in /proc/net/netfilter/nfnetlink_queue):
#  1. `queue num 0-1 fanout` (iptables-nft: --queue-balance 0:1
#     --queue-cpu-fanout) with workers = 2: a bounded flood from both CPUs
#     gets exactly one verdict per packet (drops never arrive, accepts all
#     arrive, the rule's counter agrees), and both workers decided some;
#     the metrics endpoint shows each worker's counters (worker label,
#     promtool-clean) and the main loop's q:counters() their sum;
#  2. a script error in one worker gives its packets the default verdict
#     and leaves the other worker deciding;
#  3. six SIGHUPs under NFQUEUE and NFLOG load (two groups, two workers,
#     a shared pcap sink, nurs.shared counting): no packet without a
#     verdict, no NFLOG loss by sequence numbers, every loop reloaded;
#  4. a new script that fails in one worker is dropped by every loop;
#  5. scripts/examples/nflog-top-talkers.lua counts per source across
#     workers with nurs.shared.
# NURS may be an ASan or TSan build (scripts/test-all.sh runs both).
. "$(dirname "$0")/lib/common.sh"
ns_setup
UDP="$ROOT/tests/kernel/lib/nfq_udp.py"
[ "$(nproc)" -ge 2 ] || { echo "skip: workers need 2 CPUs"; exit 0; }

nsx iptables -A OUTPUT -p udp --dport 9990:9999 -j NFQUEUE --queue-balance 0:1 \
    --queue-cpu-fanout --queue-bypass
queued() { nsx iptables -L OUTPUT -v -x -n | awk '/NFQUEUE/ {print $1}'; }
waiting() { nsx awk '{s += $3} END {print s + 0}' /proc/net/netfilter/nfnetlink_queue; }

run() { # run SCRIPT [ARGS]: starts nurs-lua on a fresh log, waits for both workers
    : >"$TMP/nurs.log"
    start_nurs "$TMP/stdout" "$@"
    wait_log "2 worker loops run the script" 30
}
# The last logged value of counter $2 of resource $1, summed ("") or of
# worker $3.
counter() {
    local pat="counters $1 (2 workers):"
    [ -n "${3:-}" ] && pat="worker $3: counters $1:"
    grep -F "$pat" "$TMP/nurs.log" | tail -1 | grep -o " $2=[0-9]*" | cut -d= -f2
}
expect_port() { # expect_port OUT PORT RECEIVED
    local line
    line=$(grep "^$2 " "$1") || fail "no line for port $2 in $(cat "$1")"
    set -- $line "$3"
    [ "$2" = "$4" ] && [ "$3" = "$4" ] || fail "port $1: received $2 ($3 intact), want $4"
}
# Traffic from each CPU, so that the fanout feeds both queues: ports
# $1 $2 from CPU 0, $3 $4 from CPU 1, COUNT datagrams each.
flood() { # flood COUNT SECONDS P0 P0b P1 P1b
    nsx taskset -c 0 timeout 90 python3 "$UDP" "$1" "$2" "$3" "$4" >"$TMP/cpu0.out" &
    local a=$!
    nsx taskset -c 1 timeout 90 python3 "$UDP" "$1" "$2" "$5" "$6" >"$TMP/cpu1.out" &
    wait $a $!
}

# ---- 1. exactly one verdict per packet, across two workers ----
cat >"$TMP/filter.lua" <<'LUA'
local nurs = require "nurs"
local q = nurs.nfqueue({ queue = "0-1", workers = 2, batch = arg[1] == "batch", affinity = true }, function(rec)
  if rec.dport % 2 == 1 then return "drop" end
  return "accept"
end)
if nurs.worker.id == 0 then
  nurs.metrics { listen = 9464 }
  nurs.every(0.2, function()
    local c = q:counters()
    io.stdout:write(string.format("sum %d w1 %d w2 %d\n", c["in"], c.workers[1]["in"] or -1,
      c.workers[2]["in"] or -1))
    io.stdout:flush()
  end)
end
LUA
N=3000
for mode in single batch; do
    base=$(queued)
    run "$TMP/filter.lua" $mode
    grep -q "worker 1: nfqueue: bound to queue 0 " "$TMP/nurs.log" || fail "worker 1 should own queue 0"
    grep -q "worker 2: nfqueue: bound to queue 1 " "$TMP/nurs.log" || fail "worker 2 should own queue 1"
    grep -q "(worker 1 on CPU 0, worker 2 on CPU 1)" "$TMP/nurs.log" || fail "the CPUs of the workers are not logged"
    # Each worker's thread runs on its CPU only (the main thread anywhere).
    pinned=$(cat /proc/"$NURS_PID"/task/*/status | awk '/^Cpus_allowed_list/ {print $2}' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    [[ "$pinned" == *" 1 0;"* && "$pinned" == *" 1 1;"* ]] || fail "threads' CPUs: $pinned"
    flood $N 1.5 9990 9991 9992 9993
    expect_port "$TMP/cpu0.out" 9990 $N
    expect_port "$TMP/cpu0.out" 9991 0
    expect_port "$TMP/cpu1.out" 9992 $N
    expect_port "$TMP/cpu1.out" 9993 0
    [ "$(waiting)" = 0 ] || fail "$(waiting) packets wait for a verdict"
    sleep 1.2 # the workers publish their counters every second
    nsx curl -s -m 5 http://127.0.0.1:9464/metrics >"$TMP/metrics.txt"
    promtool check metrics <"$TMP/metrics.txt" || fail "promtool: the metrics have problems"
    for w in 1 2; do
        grep -q "^nurs_resource_in_total{resource=\"nfqueue\",kind=\"nfqueue\",queue=\"$((w - 1))\",worker=\"$w\"} [1-9]" \
            "$TMP/metrics.txt" || fail "no nurs_resource_in_total of worker $w: $(grep nurs_resource_in_total "$TMP/metrics.txt")"
        grep -q "^nurs_script_errors_total{worker=\"$w\"} 0" "$TMP/metrics.txt" || fail "no script errors of worker $w"
    done
    scraped=$(awk -F'} ' '/^nurs_resource_in_total\{resource="nfqueue"/ {s += $2} END {print s}' "$TMP/metrics.txt")
    read -r _ sum _ w1 _ w2 < <(tail -1 "$TMP/stdout")
    [ "$sum" = $((w1 + w2)) ] && [ "$sum" = "$scraped" ] && [ "$sum" = $((4 * N)) ] ||
        fail "q:counters() on the main loop: sum $sum, workers $w1 + $w2, scraped $scraped, want $((4 * N))"
    stop_nurs
    q=$(($(queued) - base))
    [ "$q" = $((4 * N)) ] || fail "iptables queued $q packets, want $((4 * N))"
    [ "$(counter nfqueue accept)" = $((2 * N)) ] || fail "accepted $(counter nfqueue accept), want $((2 * N))"
    [ "$(counter nfqueue drop)" = $((2 * N)) ] || fail "dropped $(counter nfqueue drop), want $((2 * N))"
    [ "$(counter nfqueue in)" = "$q" ] || fail "the workers saw $(counter nfqueue in), iptables queued $q"
    [ "$(counter nfqueue defaults)" = 0 ] || fail "$(counter nfqueue defaults) default verdicts"
    for w in 1 2; do
        [ "$(counter nfqueue in $w)" -gt 0 ] || fail "worker $w decided no packet"
    done
    echo "ok: $mode verdicts: one each for $((4 * N)) packets, $(counter nfqueue in 1) by worker 1, $(counter nfqueue in 2) by worker 2"
done

# ---- 2. a script error in one worker ----
cat >"$TMP/broken.lua" <<'LUA'
local nurs = require "nurs"
nurs.nfqueue({ queue = "0-1", workers = 2, default = "accept" }, function(rec)
  if nurs.worker.id == 1 then error("worker 1 is broken") end
  return "drop"
end)
LUA
run "$TMP/broken.lua"
flood 500 0.5 9994 9995 9996 9997
expect_port "$TMP/cpu0.out" 9994 500   # worker 1: the default verdict (accept)
expect_port "$TMP/cpu0.out" 9995 500
expect_port "$TMP/cpu1.out" 9996 0     # worker 2: its own verdict (drop)
expect_port "$TMP/cpu1.out" 9997 0
# Worker 2 goes on after worker 1's errors.
nsx taskset -c 1 timeout 60 python3 "$UDP" 200 0.2 9998 >"$TMP/cpu1.out"
expect_port "$TMP/cpu1.out" 9998 0
kill -0 "$NURS_PID" || fail "the daemon died"
stop_nurs
[ "$(counter nfqueue default_error 1)" = 1000 ] || fail "worker 1: $(counter nfqueue default_error 1) default verdicts for errors, want 1000"
[ "$(counter nfqueue drop 2)" = 1200 ] || fail "worker 2: dropped $(counter nfqueue drop 2), want 1200"
grep -q "worker 1: nfqueue: .*worker 1 is broken" "$TMP/nurs.log" || fail "worker 1's error is not logged as its own"
echo "ok: an error in worker 1 gives its packets the default verdict; worker 2 goes on"

# ---- 3. six SIGHUPs under NFQUEUE and NFLOG load ----
nsx nft -f - <<'NFT'
table inet wl {
    chain g1 { log group 11; }
    chain g2 { log group 12; }
    chain out {
        type filter hook output priority 10;
        udp dport 30000 counter numgen inc mod 2 vmap { 0 : jump g1, 1 : jump g2 };
    }
}
NFT
logged() { nsx nft list chain inet wl out | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
cat >"$TMP/both.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.pcap { path = arg[1], shared = true }
nurs.nflog({ groups = { 11, 12 }, workers = 2 }, function(rec)
  out:write(rec)
  nurs.shared.add("logged")
end)
nurs.nfqueue({ queue = "0-1", workers = 2, batch = true }, function(rec)
  nurs.shared.add("queued")
  return "accept"
end)
nurs.log.info("loaded in loop %d", nurs.worker.id)
LUA
run "$TMP/both.lua" "$TMP/log.pcap"
base=$(queued)
nsx timeout 90 "$(dirname "$NURS")/tools/udp-blast" -c 40000 -r 10000 30000 >/dev/null &
blast=$!
flood 4000 4 9990 9992 9994 9996 &
sender=$!
for i in 1 2 3 4 5 6; do
    sleep 0.5
    kill -HUP "$NURS_PID"
done
wait $sender $blast
sleep 1.5
[ "$(waiting)" = 0 ] || fail "$(waiting) packets wait for a verdict"
reloads=$(grep -c "reloaded $TMP/both.lua" "$TMP/nurs.log" || true)
[ "$reloads" = 6 ] || fail "$reloads reloads of 6 succeeded"
for w in 0 1 2; do
    pat="loaded in loop $w"
    [ "$w" != 0 ] && pat="worker $w: .*loaded in loop $w"
    [ "$(grep -c "$pat" "$TMP/nurs.log")" = 7 ] || fail "loop $w loaded the script $(grep -c "$pat" "$TMP/nurs.log") times, want 7"
done
stop_nurs
for f in cpu0 cpu1; do
    for p in $(awk '{print $1}' "$TMP/$f.out"); do expect_port "$TMP/$f.out" "$p" 4000; done
done
q=$(($(queued) - base))
[ "$(counter nfqueue in)" = "$q" ] || fail "NFQUEUE: the workers saw $(counter nfqueue in), iptables queued $q"
[ "$(counter nfqueue accept)" = "$q" ] || fail "NFQUEUE: accepted $(counter nfqueue accept) of $q"
[ "$(counter nflog lost)" = 0 ] || fail "NFLOG: $(counter nflog lost) packets lost by sequence numbers"
[ "$(counter nflog overruns)" = 0 ] || fail "NFLOG: $(counter nflog overruns) overruns"
[ "$(counter nflog in)" = "$(logged)" ] || fail "NFLOG: the workers saw $(counter nflog in), nft logged $(logged)"
[ "$(counter nflog in 1)" -gt 0 ] && [ "$(counter nflog in 2)" -gt 0 ] || fail "NFLOG: a worker got nothing"
written=$(grep -F "counters pcap: " "$TMP/nurs.log" | grep -v worker | tail -1 | grep -o " delivered=[0-9]*" | cut -d= -f2)
[ "$written" = "$(logged)" ] || fail "the shared pcap sink wrote $written of $(logged)"
[ "$(tshark -r "$TMP/log.pcap" 2>/dev/null | wc -l)" = "$(logged)" ] || fail "tshark reads $(tshark -r "$TMP/log.pcap" 2>/dev/null | wc -l) packets, nft logged $(logged)"
echo "ok: six reloads under load: $q queued packets all decided, $(logged) logged packets all written"

# ---- 4. all or nothing ----
cat >"$TMP/fragile.lua" <<'LUA'
local nurs = require "nurs"
local f = io.open(arg[1])
if f and nurs.worker.id == 2 then f:close() error("worker 2 refuses the new script") end
local version = f and "new" or "old"
if f then f:close() end
nurs.nfqueue({ queue = "0-1", workers = 2 }, function(rec)
  return version == "old" and "accept" or "drop"
end)
LUA
run "$TMP/fragile.lua" "$TMP/flag"
touch "$TMP/flag"
kill -HUP "$NURS_PID"
wait_log "reload of $TMP/fragile.lua failed"
grep -q "worker 2: .*worker 2 refuses the new script" "$TMP/nurs.log" || fail "worker 2's load error is not logged"
grep -q "worker 1: \(the new script loaded here but not in every loop\|the new script failed in another loop\)" \
    "$TMP/nurs.log" || fail "worker 1 did not drop the new script"
flood 300 0.3 9990 9991 9992 9993
for p in 9990 9991; do expect_port "$TMP/cpu0.out" $p 300; done
for p in 9992 9993; do expect_port "$TMP/cpu1.out" $p 300; done
stop_nurs
echo "ok: a reload that fails in one worker changes no loop"

# ---- 5. the top talkers example ----
: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" "$ROOT/scripts/examples/nflog-top-talkers.lua" 11,12 0.5 3
wait_log "worker 2: nflog: listening" 30
before=$(logged)
nsx timeout 60 "$(dirname "$NURS")/tools/udp-blast" -c 3000 -r 6000 30000 >/dev/null
sleep 1.5
stop_nurs
sent=$(($(logged) - before))
counted=$(grep -o '[0-9]* packets from [0-9]* sources' "$TMP/nurs.log" | awk '{s += $1} END {print s + 0}')
[ "$counted" = "$sent" ] || fail "top talkers counted $counted packets, nft logged $sent"
grep -q "  127.0.0.1 .* pkts" "$TMP/nurs.log" || fail "no line for 127.0.0.1 in the report"
[ "$(counter nflog in 1)" -gt 0 ] && [ "$(counter nflog in 2)" -gt 0 ] || fail "top talkers: a worker got nothing"
echo "ok: the top talkers example counts $sent packets across two workers"
