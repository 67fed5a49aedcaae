#!/bin/bash
# 200 half-open connections to the metrics port do not stall the loop:
# a Lua timer every 10 ms records the longest gap between its runs while
# conntrack events flow, before (baseline) and while the connections are
# held; every event is delivered, and a real scrape is still answered.
# Then the same 200 against an endpoint with the default limits: all but
# max_per_ip are refused at once and counted, the rest time out, counted.
#   METRICS_STALL_MAX_MS: how much longer than the baseline's longest gap
#   the longest one while held may be (default 100; the machine's own
#   scheduling jitter is in the baseline)
. "$(dirname "$0")/lib/common.sh"
ns_setup
FLOWS=2000
MAX_MS=${METRICS_STALL_MAX_MS:-100}

cat >"$TMP/script.lua" <<'LUA'
local nurs = require "nurs"
nurs.metrics { listen = "127.0.0.1:9464", name = "big", max_connections = 256, max_per_ip = 256 }
nurs.metrics { listen = "127.0.0.1:9465", name = "small", timeout = 2 }
local udp = 0
nurs.conntrack({ events = { "new" } }, function(rec)
  if rec.proto == "udp" then udp = udp + 1 end
end)
local last, worst = nil, 0
nurs.every(0.01, function()
  local now = nurs.now()
  if last and now - last > worst then worst = now - last end
  last = now
end)
nurs.every(0.25, function()
  nurs.log.info("stall window: worst_gap_ms=%.1f udp=%d", worst * 1000, udp)
  worst = 0
end)
LUA

start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "listening"
sleep 2 # baseline windows

# 200 half-open connections to "big" (all accepted and held), traffic and
# a real scrape while they are held.
nsx python3 "$ROOT/tests/kernel/lib/half_open.py" 127.0.0.1 9464 200 4 >"$TMP/big.json" &
HOLD=$!
PIDS+=($HOLD)
sleep 1
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" $FLOWS 2 30000 >/dev/null
nsx curl -s -m 2 -o "$TMP/scrape.txt" -w '%{http_code} %{time_total}\n' \
    http://127.0.0.1:9464/metrics >"$TMP/scrape.code" || true
wait "$HOLD" || fail "half_open.py failed"
read -r code secs <"$TMP/scrape.code"
[ "$code" = 200 ] || fail "a scrape while 200 connections were held got '$code'"
grep -q '^nurs_metrics_connections{resource="big".* 20[0-9]$' "$TMP/scrape.txt" ||
    fail "the scrape did not see 200 open connections: $(grep '^nurs_metrics_connections' "$TMP/scrape.txt")"

# The same against "small": 8 per address by default, idle ones closed after 2 s.
nsx python3 "$ROOT/tests/kernel/lib/half_open.py" 127.0.0.1 9465 200 3 >"$TMP/small.json"
sleep 0.5
kill -USR1 "$NURS_PID"
wait_log "counters small:"
stop_nurs

python3 - "$TMP/nurs.log" "$TMP/big.json" "$TMP/small.json" "$FLOWS" "$MAX_MS" "$secs" <<'PY' || fail "see above"
import json, re, sys
from datetime import datetime, timezone
log, big, small = open(sys.argv[1]).read(), json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
flows, max_ms, scrape_s = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
windows = []
for m in re.finditer(r"^(\S+) nurs-lua info: .*stall window: worst_gap_ms=([\d.]+) udp=(\d+)", log, re.M):
    t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    windows.append((t, float(m.group(2)), int(m.group(3))))
# A window's gaps are those of the 0.25 s before its line: those from
# the first connection to 0.25 s after the last one closed.
base = [w for t, w, _ in windows if t < big["begin"]][1:]  # the first may include start-up
held = [w for t, w, _ in windows if big["begin"] < t <= big["end"] + 0.25]
during_small = [w for t, w, _ in windows if small["begin"] < t <= small["end"] + 0.25]
assert base and held and during_small, (len(base), len(held), len(during_small))
print(f"longest loop stall: baseline {max(base):.1f} ms, with 200 half-open connections held "
      f"{max(held):.1f} ms ({len(held)} windows), against default limits {max(during_small):.1f} ms")
print(f"a scrape while they were held took {scrape_s * 1000:.1f} ms")
print(f"big: {big}\nsmall: {small}")
assert big["connected"] == 200 and big["closed_by_server"] == 0, big
limit = max(base) + max_ms
assert max(held) <= limit, f"the loop stalled {max(held):.1f} ms > {limit:.1f} ms"
assert max(during_small) <= limit, f"the loop stalled {max(during_small):.1f} ms > {limit:.1f} ms"
udp = max(u for _, _, u in windows)
assert udp >= flows, f"only {udp} of {flows} UDP flows delivered"
ct = re.findall(r"counters conntrack: in=(\d+) delivered=(\d+) errors=0 overruns=(\d+)", log)[-1]
assert ct[0] == ct[1] and ct[2] == "0", ct
small_c = dict(kv.split("=") for kv in re.findall(r"counters small: (.*)", log)[-1].split())
print("small:", small_c)
# 8 accepted from our address, the 192 others refused at once; the 8 held
# closed by the 2 s timeout without an answer.
assert small_c["refused_per_ip"] == "192" and small_c["unanswered"] == "8", small_c
assert small["closed_by_server"] == 200, small
PY
echo "ok: metrics-stall"
