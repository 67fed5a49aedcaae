#!/bin/bash
# Benchmark (not a test): delete by filter. N entries a filter matches
# (UDP to port 53) among N/10 it does not (port 54), in a private
# namespace; deleted once by `conntrack -D -p udp --dport 53`, once (same
# table again) by a script's ct:delete{ proto = "udp", dport = 53 }, while a
# 10 ms timer records the loop's longest stall. Prints both times, their
# ratio, and the stall beside the same timer's on an idle loop (the
# machine's own noise, measured in the same run).
#   bench/ct-delete.sh [N]   (default 100000, <= 1000000)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-100000}
[ "$N" -le 1000000 ] || { echo "N too large" >&2; exit 2; }
. "$ROOT/bench/lib-ns.sh"
bench_netns ctdel
nsx sysctl -qw net.netfilter.nf_conntrack_max=$((N * 2)) 2>/dev/null || true

cat >"$TMP/fill.lua" <<'LUA'
-- N entries to port 53, N/10 to port 54; 512 requests in flight at most.
local nurs = require "nurs"
local n = tonumber(arg[1])
local ct, next_i, done, total = nurs.ct(), 0, 0, n + n // 10
local function one()
  if next_i >= total then return end
  local i = next_i
  next_i = i + 1
  local port = i < n and 53 or 54
  ct:create({ proto = "udp", orig = { src = string.format("10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255),
              dst = "192.0.2.1", sport = 1024, dport = port }, timeout = 3600 }, function(ok, err)
    assert(ok, err)
    done = done + 1
    if done == total then nurs.stop() else one() end
  end)
end
for _ = 1, 512 do one() end
LUA
cat >"$TMP/delete.lua" <<'LUA'
local nurs = require "nurs"
local ct = nurs.ct()
local last, worst, t0 = nurs.now(), 0, nil
nurs.every(0.01, function()
  local now = nurs.now()
  if t0 and now - last > worst then worst = now - last end
  last = now
end)
nurs.after(0.2, function()
  t0 = nurs.now()
  ct:delete({ proto = "udp", dport = 53 }, function(n, info)
    print(string.format("%d %.3f %.1f", n, nurs.now() - t0, worst * 1000))
    nurs.stop()
  end)
end)
LUA
cat >"$TMP/idle.lua" <<'LUA'
local nurs = require "nurs"
local last, worst = nurs.now(), 0
nurs.every(0.01, function()
  local now = nurs.now()
  if now - last > worst then worst = now - last end
  last = now
end)
nurs.after(tonumber(arg[1]), function() print(string.format("%.1f", worst * 1000)) nurs.stop() end)
LUA
fill() {
    nsx timeout 300 "$BUILD/nurs-lua" "$TMP/fill.lua" "$N" 2>"$TMP/fill.log" || { cat "$TMP/fill.log"; exit 1; }
    echo "table: $(nsx conntrack -C) entries"
}

fill
t0=$(date +%s.%N)
nsx conntrack -D -p udp --dport 53 >/dev/null 2>"$TMP/ct.err"
t1=$(date +%s.%N)
ct_s=$(echo "$t1 - $t0" | bc -l)
echo "conntrack -D: $(tail -1 "$TMP/ct.err"), $(nsx conntrack -C) left"

fill
read -r n nurs_s stall_ms < <(nsx timeout 300 "$BUILD/nurs-lua" "$TMP/delete.lua" 2>"$TMP/del.log")
echo "ct:delete: $n deleted, $(nsx conntrack -C) left"
idle_ms=$(nsx timeout 60 "$BUILD/nurs-lua" "$TMP/idle.lua" "$nurs_s" 2>/dev/null)
printf '%-14s %10s\n' tool seconds
printf '%-14s %10.3f\n' "conntrack -D" "$ct_s" "ct:delete" "$nurs_s"
echo "ct:delete time / conntrack -D time: $(echo "$nurs_s / $ct_s" | bc -l | xargs printf '%.2f')"
echo "longest loop stall while deleting (10 ms timer): $stall_ms ms; on an idle loop as long: $idle_ms ms"
