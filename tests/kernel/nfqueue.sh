#!/bin/bash
# NFQUEUE end to end, in a private namespace, checked with the kernel's
# own view (what reaches the receiving sockets, nft counters on the marks
# we set, conntrack -L for conntrack marks, /proc/net/netfilter/
# nfnetlink_queue for packets left waiting):
#  1. a filter drops one port and accepts another with a mark (one
#     verdict per packet, then batch verdicts); its records reach JSON;
#  2. a script that errs, or loops forever (also inside pcall and in a
#     coroutine), still lets traffic through under the default verdict;
#     with default "drop" the same traffic is dropped;
#  3. held packets decided on a timer, and held packets never decided;
#  4. repeat with a mark, and a conntrack mark seen by conntrack -L;
#  5. reloads under traffic lose no packet; a script without a queue
#     unbinds it;
#  6. SIGTERM gives held packets the default verdict; a killed daemon with
#     `bypass` lets traffic through;
#  7. scripts/examples/nfq-filter.lua drops DNS queries for listed names.
. "$(dirname "$0")/lib/common.sh"
ns_setup
UDP="$ROOT/tests/kernel/lib/nfq_udp.py"
Q=3

# The queue rule: nft's own queue statement where the kernel has it,
# else the xtables NFQUEUE target through iptables-nft (same bypass).
queue_rule() { # queue_rule PORTS [unmarked]
    local ports=$1 unmarked=${2:-}
    local nft_match="" ipt_match=()
    if [ -n "$unmarked" ]; then nft_match="meta mark != 1"; ipt_match=(-m mark ! --mark 1); fi
    nsx nft add rule inet nurs_test out $nft_match udp dport "{ $ports }" queue num $Q bypass \
        2>/dev/null && return 0
    nsx iptables -A OUTPUT -p udp -m multiport --dports "$ports" "${ipt_match[@]}" \
        -j NFQUEUE --queue-num $Q --queue-bypass
}
clear_queue_rules() {
    nsx iptables -F OUTPUT 2>/dev/null || true
    nsx nft flush chain inet nurs_test out
    nsx nft add rule inet nurs_test out ct state new counter
}
nsx nft add chain inet nurs_test post '{ type filter hook postrouting priority 10; }'
nsx nft add rule inet nurs_test post meta mark 42 counter
# Packets with mark 42 since the last reset_marked (anonymous rule
# counters cannot be reset on every nft version: keep a base).
marked_total() { nsx nft list chain inet nurs_test post | grep -o 'packets [0-9]*' | awk '{print $2}'; }
reset_marked() { MARK_BASE=$(marked_total); }
marked() { echo $(($(marked_total) - MARK_BASE)); }

# Packets the kernel still holds for queue Q (0 when none, or unbound).
waiting() { nsx cat /proc/net/netfilter/nfnetlink_queue | awk -v q=$Q '$1 == q {print $3; f=1} END {if (!f) print 0}'; }
bound() { nsx cat /proc/net/netfilter/nfnetlink_queue | awk -v q=$Q '$1 == q {f=1} END {exit !f}'; }

run() { # run SCRIPT [ARGS]: starts nurs-lua on a fresh log
    : >"$TMP/nurs.log"
    start_nurs "$TMP/stdout" "$@"
    wait_log "bound to queue $Q"
}
counter() { # the last logged value of an nfqueue counter
    grep 'counters nfqueue:' "$TMP/nurs.log" | tail -1 | grep -o " $1=[0-9]*" | cut -d= -f2
}
expect_port() { # expect_port OUT PORT RECEIVED [INTACT]
    local line
    line=$(grep "^$2 " "$1") || fail "no line for port $2 in $(cat "$1")"
    set -- $line "$3" "${4:-$3}"
    [ "$2" = "$4" ] || fail "port $1: received $2, want $4"
    [ "$3" = "$5" ] || fail "port $1: $3 intact, want $5"
}
expect_counter() { [ "$(counter "$1")" = "$2" ] || fail "counter $1=$(counter "$1"), want $2: $(grep 'counters nfqueue' "$TMP/nurs.log" | tail -1)"; }

# ---- 1. the filter: drop one port, accept the other with a mark ----
queue_rule 9998,9999
cat >"$TMP/filter.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[2], flush = 0.05 }
local batch = arg[1] == "batch"
nurs.nfqueue({ queue = 3, batch = batch, budget = 0.5 }, function(rec)
  if rec.id <= 3 then out:write(rec) end
  -- In the fast single-port run, packets queue up behind a slow call and
  -- are then read together: their verdicts must go as one batch message
  -- (without it, a quick daemon may never hold two at once).
  if batch and rec.id == 1000 then
    local t = os.clock()
    while os.clock() - t < 0.05 do end
  end
  if rec.dport == 9999 then return "drop" end
  return { verdict = "accept", mark = 42 }
end)
LUA
for mode in single batch; do
    reset_marked
    run "$TMP/filter.lua" $mode "$TMP/filter-$mode.json"
    nsx timeout 60 python3 "$UDP" 300 0.5 9998 9999 >"$TMP/udp.out"
    expect_port "$TMP/udp.out" 9998 300
    expect_port "$TMP/udp.out" 9999 0
    want=300
    if [ $mode = batch ]; then
        # One port only, sent fast: runs of accepted ids, batched.
        nsx timeout 60 python3 "$UDP" 2000 0.2 9998 >"$TMP/udp.out"
        expect_port "$TMP/udp.out" 9998 2000
        want=2300
    fi
    [ "$(marked)" = $want ] || fail "$mode: nft counted $(marked) packets with mark 42, want $want"
    [ "$(waiting)" = 0 ] || fail "$mode: $(waiting) packets left waiting in the kernel queue"
    stop_nurs
    expect_counter accept $want
    expect_counter drop 300
    expect_counter defaults 0
    if [ $mode = batch ]; then
        [ "$(counter batch_msgs)" -gt 0 ] || fail "batch mode sent no batch verdict"
    else
        expect_counter verdict_msgs 600
    fi
    bound && fail "$mode: queue still bound after exit"
    python3 - "$TMP/filter-$mode.json" <<'PY' || fail "$mode: JSON records: $(head -c 2000 "$TMP/filter-$mode.json")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 3, recs
r = recs[0]
assert r["queue"] == 3 and r["id"] == 1 and r["hook"] == "output", r
assert r["oifname"] == "lo" and r["src"] == "127.0.0.1" and r["proto"] == "udp", r
assert r["dport"] in (9998, 9999) and r["len"] == 20 + 8 + len(b"%d:0:" % r["dport"]) + 200, r
PY
done
echo "ok: filter (single and batch verdicts)"

# ---- 2. errors and endless loops get the default verdict ----
cat >"$TMP/error.lua" <<'LUA'
local nurs = require "nurs"
nurs.nfqueue({ queue = 3, default = arg[1] }, function(rec) error("boom " .. rec.id) end)
LUA
run "$TMP/error.lua" accept
nsx timeout 60 python3 "$UDP" 100 0.2 9998 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 100
stop_nurs
expect_counter default_error 100
grep -q "error.lua:2: boom 1" "$TMP/nurs.log" || fail "the error is not logged with file:line"

run "$TMP/error.lua" drop
nsx timeout 60 python3 "$UDP" 50 0.1 9998 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 0
stop_nurs
expect_counter default_error 50
expect_counter drop 50

cat >"$TMP/loop.lua" <<'LUA'
local nurs = require "nurs"
local spin = coroutine.wrap(function() while true do end end)
nurs.nfqueue({ queue = 3, budget = 0.002 }, function(rec)
  local kind = rec.id % 3
  if kind == 0 then while true do end end
  if kind == 1 then  -- the script catches the budget's errors: it holds anyway
    while true do pcall(function() while true do end end) end
  end
  spin()             -- a loop in a coroutine made before the queue
  return "drop"
end)
LUA
run "$TMP/loop.lua"
start=$(date +%s%N)
nsx timeout 60 python3 "$UDP" 30 0.3 9998 >"$TMP/udp.out"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_port "$TMP/udp.out" 9998 30
stop_nurs
expect_counter default_timeout 30
expect_counter timeouts 30
[ $elapsed_ms -lt 10000 ] || fail "30 looping callbacks took ${elapsed_ms} ms"
grep -q "exceeded its time budget of 2 ms" "$TMP/nurs.log" || fail "no budget message"
echo "ok: errors and loops get the default verdict"

# ---- 3. held packets ----
cat >"$TMP/hold.lua" <<'LUA'
local nurs = require "nurs"
local q
q = nurs.nfqueue({ queue = 3, batch = true, hold_timeout = tonumber(arg[1]) }, function(rec)
  rec:hold()
end)
if arg[2] == "decide" then
  nurs.every(0.05, function()
    local held = q:held()
    if #held > 0 then assert(q:verdict(held, { verdict = "accept", mark = 42 }) == #held) end
  end)
end
LUA
reset_marked
run "$TMP/hold.lua" 5 decide
nsx timeout 60 python3 "$UDP" 200 0.4 9998 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 200
[ "$(marked)" = 200 ] || fail "held packets: nft counted $(marked) marked, want 200"
stop_nurs
expect_counter accept 200
expect_counter defaults 0
[ "$(counter batch_msgs)" -gt 0 ] || fail "held packets decided together sent no batch verdict"

run "$TMP/hold.lua" 0.2
nsx timeout 60 python3 "$UDP" 20 0.1 9998 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 20
stop_nurs
expect_counter default_hold_timeout 20
echo "ok: held packets"

# ---- 4. repeat with a mark; a conntrack mark ----
clear_queue_rules
queue_rule 9998 unmarked
cat >"$TMP/repeat.lua" <<'LUA'
local nurs = require "nurs"
local seen = 0
nurs.nfqueue({ queue = 3 }, function(rec)
  seen = seen + 1
  assert(rec.mark == nil and rec.ct_state == nil)
  if rec.id % 2 == 0 then return { verdict = "repeat", mark = 1 } end
  return "accept"
end)
nurs.every(0.1, function() io.stdout:write(seen, "\n"); io.stdout:flush() end)
LUA
run "$TMP/repeat.lua"
nsx timeout 60 python3 "$UDP" 40 0.2 9998 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 40
stop_nurs
expect_counter repeat 20
expect_counter accept 20
expect_counter errors 0
[ "$(tail -1 "$TMP/stdout")" = 40 ] || fail "repeated packets came back to the queue: seen $(tail -1 "$TMP/stdout")"
clear_queue_rules
queue_rule 9998

cat >"$TMP/ct.lua" <<'LUA'
local nurs = require "nurs"
nurs.nfqueue({ queue = 3, conntrack = true }, function(rec)
  assert(rec.ct_state == "new" or rec.ct_state == "established", rec.ct_state)
  assert(rec.ct_dir == "original")
  return { verdict = "accept", ctmark = 7 }
end)
LUA
: >"$TMP/nurs.log"
start_nurs "$TMP/stdout" "$TMP/ct.lua"
for ((i = 0; i < 50; i++)); do grep -q "bound to queue\|GLUE_CT" "$TMP/nurs.log" && break; sleep 0.1; done
if grep -q "needs a kernel built with CONFIG_NETFILTER_NETLINK_GLUE_CT" "$TMP/nurs.log"; then
    wait "$NURS_PID" && fail "a script asking for an impossible flag did not fail"
    echo "skip: conntrack info and marks (this kernel lacks CONFIG_NETFILTER_NETLINK_GLUE_CT)"
    echo 'require("nurs").nfqueue(3, function() return { verdict = "accept", ctmark = 7 } end)' >"$TMP/ct.lua"
    run "$TMP/ct.lua"
    nsx timeout 60 python3 "$UDP" 5 0.1 9998 >"$TMP/udp.out"
    expect_port "$TMP/udp.out" 9998 5
    wait_log "ignores conntrack marks in verdicts"
    stop_nurs
    expect_counter ctmark_ignored 5
else
    wait_log "bound to queue $Q"
    nsx timeout 60 python3 "$UDP" 20 0.1 9998 >"$TMP/udp.out"
    expect_port "$TMP/udp.out" 9998 20
    stop_nurs
    expect_counter errors 0
    nsx conntrack -L -p udp --dport 9998 2>/dev/null | grep -q "mark=7" ||
        fail "conntrack -L shows no mark=7: $(nsx conntrack -L -p udp 2>&1 | head -3)"
fi
echo "ok: repeat and conntrack marks"

# ---- 5. reloads under traffic; a script without a queue unbinds it ----
# Held packets of the replaced script get the default verdict at once.
run "$TMP/hold.lua" 60
nsx timeout 60 python3 "$UDP" 5 0.1 9998 >"$TMP/udp.out" &
sender=$!
for ((i = 0; i < 50; i++)); do [ "$(waiting)" = 5 ] && break; sleep 0.1; done
[ "$(waiting)" = 5 ] || fail "5 held packets should wait in the kernel, $(waiting) do"
kill -HUP "$NURS_PID"
wait $sender
expect_port "$TMP/udp.out" 9998 5
wait_log "5 packets held by the old script got the default verdict"
stop_nurs

cat >"$TMP/accept.lua" <<'LUA'
local nurs = require "nurs"
nurs.nfqueue({ queue = 3 }, function(rec) return "accept" end)
LUA
run "$TMP/accept.lua"
nsx timeout 60 python3 "$UDP" 3000 3 9998 >"$TMP/udp.out" &
sender=$!
for i in 1 2 3; do
    sleep 0.6
    kill -HUP "$NURS_PID"
done
wait $sender || fail "sender failed"
expect_port "$TMP/udp.out" 9998 3000
[ "$(grep -c 'reloaded' "$TMP/nurs.log")" = 3 ] || fail "not 3 reloads: $(grep -c reloaded "$TMP/nurs.log")"
[ "$(waiting)" = 0 ] || fail "$(waiting) packets waiting after reloads"
echo 'print("no queue here"); require("nurs").every(1, function() end)' >"$TMP/accept.lua"
kill -HUP "$NURS_PID"
wait_log "reloaded"
for ((i = 0; i < 50; i++)); do bound || break; sleep 0.1; done
bound && fail "queue still bound after a reload into a script without it"
nsx timeout 60 python3 "$UDP" 20 0.1 9998 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 20
stop_nurs
echo "ok: reloads"

# ---- 6. exit with held packets; a killed daemon with bypass ----
run "$TMP/hold.lua" 60
nsx timeout 60 python3 "$UDP" 10 0.1 9998 >"$TMP/udp.out" &
sender=$!
for ((i = 0; i < 50; i++)); do [ "$(waiting)" = 10 ] && break; sleep 0.1; done
[ "$(waiting)" = 10 ] || fail "10 held packets should wait in the kernel, $(waiting) do"
stop_nurs
wait $sender
expect_port "$TMP/udp.out" 9998 10
grep -q "10 pending packets got the default verdict (accept) on close" "$TMP/nurs.log" ||
    fail "exit did not report the held packets' default verdict"

# Closed from its own callback: that packet and the rest get the default.
cat >"$TMP/close.lua" <<'LUA'
local nurs = require "nurs"
local q
q = nurs.nfqueue({ queue = 3 }, function(rec)
  if rec.id == 5 then q:close() return "drop" end
  return "accept"
end)
nurs.every(1, function() end)
LUA
run "$TMP/close.lua"
nsx timeout 60 python3 "$UDP" 40 0.05 9998 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 40
bound && fail "queue still bound after q:close()"
stop_nurs

run "$TMP/filter.lua" single /dev/null
kill -KILL "$NURS_PID"
timeout 5 tail -s 0.05 --pid="$NURS_PID" -f /dev/null || true
nsx timeout 60 python3 "$UDP" 30 0.1 9998 9999 >"$TMP/udp.out"
expect_port "$TMP/udp.out" 9998 30
expect_port "$TMP/udp.out" 9999 30
echo "ok: exit and bypass"

# ---- 7. the example: a DNS filter ----
clear_queue_rules
queue_rule 53
printf 'blocked.example\n# a comment\n\n' >"$TMP/blocklist"
run "$ROOT/scripts/examples/nfq-filter.lua" $Q "$TMP/blocklist" ads.test
nsx timeout 20 python3 "$ROOT/tests/kernel/lib/dns_queries.py" www.blocked.example blocked.example \
    ADS.test example notblocked.example ads.test.org >"$TMP/dns.out"
stop_nurs
sort "$TMP/dns.out" | tr '\n' ' ' >"$TMP/dns.got"
[ "$(cat "$TMP/dns.got")" = "<malformed> ads.test.org example notblocked.example " ] ||
    fail "DNS filter let through: $(cat "$TMP/dns.got")"
grep -q "dropped a query for www.blocked.example (blocked.example) from 127.0.0.1" "$TMP/nurs.log" ||
    fail "the filter did not log its drop"
expect_counter drop 3
echo "ok: the DNS filter example"
echo "ok: nfqueue"
