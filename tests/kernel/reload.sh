#!/bin/bash
# Reload under load: bounded traffic creates conntrack entries while the
# test sends SIGHUP several times; every NEW event the kernel emitted is
# delivered exactly once across the reloads. Then a broken script on
# reload leaves the old one running.
. "$(dirname "$0")/lib/common.sh"
ns_setup
COUNT=20000

cat >"$TMP/script.lua" <<LUA
local nurs = require "nurs"
local out = nurs.json { path = "$TMP/events.json" }
nurs.conntrack({ events = { "new" }, rcvbuf = 8 << 20 }, function(rec)
  if rec.proto == "udp" then
    out:write { id = rec.id, dport = rec.orig.dport, gen = GENERATION }
  end
end)
GENERATION = nurs.now()
nurs.log.info("script loaded")
LUA

start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "listening"
nsx timeout 60 python3 "$ROOT/tests/kernel/lib/udp_burst.py" $COUNT 4 10000 >/dev/null &
GEN=$!
PIDS+=("$GEN")
for i in 1 2 3 4 5 6; do
    sleep 0.5
    kill -HUP "$NURS_PID"
done
wait "$GEN" || fail "traffic generator failed"
sleep 1
reloads=$(grep -c "reloaded" "$TMP/nurs.log" || true)
[ "$reloads" -eq 6 ] || fail "expected 6 reloads, log shows $reloads"

# A broken script on reload: the old one keeps delivering.
cp "$TMP/script.lua" "$TMP/good.lua"
echo 'this is not lua (' >"$TMP/script.lua"
kill -HUP "$NURS_PID"
wait_log "reload of .* failed; the running script goes on"
nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" 100 0.5 40000 >/dev/null
sleep 1
stop_nurs

python3 - "$TMP/events.json" $COUNT <<'PY'
import json, sys
seen, dup = {}, 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["dport"] in seen:
        dup += 1
    seen[r["dport"]] = r
want = int(sys.argv[2])
burst = [p for p in seen if 10000 <= p < 10000 + want]
after = [p for p in seen if 40000 <= p < 40100]
gens = {seen[p]["gen"] for p in burst}
print(f"burst: {len(burst)}/{want} delivered, {dup} duplicates, {len(gens)} script generations;"
      f" after broken reload: {len(after)}/100")
ok = len(burst) == want and dup == 0 and len(after) == 100 and len(gens) >= 5
sys.exit(0 if ok else 1)
PY
grep -q "receive buffer overrun" "$TMP/nurs.log" && fail "kernel overruns during the test: $(grep "receive buffer overrun" "$TMP/nurs.log" | head -1)"
grep -q "counters conntrack: in=[0-9]* delivered=[0-9]* errors=0 overruns=0" "$TMP/nurs.log" || fail "no clean final counters"
echo "ok: reload"
