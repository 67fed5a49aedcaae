#!/bin/bash
# Benchmark (not a test): what serving Prometheus metrics costs. The flood
# of bench/live-flood.sh (ct-gen creates and deletes N entries in a private
# namespace), received at the same time by two nurs-lua running the same
# script (DESTROY events as JSON lines): one also serves nurs.metrics and
# is scraped every second, as Prometheus would (OpenMetrics), the other
# serves nothing. Both see the same events on the same machine at the same
# time; reports records per CPU second of each and their difference, for
# ROUNDS floods.
#   bench/metrics-cost.sh [N] [ROUNDS]   (N default 1000000, <= 2000000; ROUNDS 3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-1000000}
ROUNDS=${2:-3}
[ "$N" -le 2000000 ] || { echo "N too large" >&2; exit 2; }
[ "$ROUNDS" -le 10 ] || { echo "ROUNDS too large" >&2; exit 2; }
. "$ROOT/bench/lib-ns.sh"
bench_netns mcost

cat >"$TMP/flood.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[1], buffer = 1 << 20 }
if arg[2] == "metrics" then nurs.metrics { listen = "127.0.0.1:9464" } end
nurs.conntrack({ events = { "destroy" }, rcvbuf = 64 << 20, rcvbuf_max = 64 << 20 },
  function(rec) out:write(rec) end)
LUA

HZ=$(getconf CLK_TCK)
printf '%-6s %-22s %10s %8s %8s %16s\n' round daemon received lost cpu_s records/cpu_s
sum_diff=0
for ((round = 1; round <= ROUNDS; round++)); do
    rm -f "$TMP"/*.json "$TMP"/*.log
    ip netns exec $NS "$BUILD/nurs-lua" "$TMP/flood.lua" "$TMP/plain.json" 2>"$TMP/plain.log" &
    PLAIN=$!; PIDS+=($PLAIN)
    ip netns exec $NS "$BUILD/nurs-lua" "$TMP/flood.lua" "$TMP/metrics.json" metrics \
        2>"$TMP/metrics.log" &
    METRICS=$!; PIDS+=($METRICS)
    for ((i = 0; i < 50; i++)); do
        grep -qs listening "$TMP/plain.log" && grep -qs listening "$TMP/metrics.log" && break
        sleep 0.1
    done
    # The scraper: every second while the daemon lives (bounded by it).
    ( n=0
      while kill -0 $METRICS 2>/dev/null; do
          nsx curl -s -m 2 -o /dev/null -H 'Accept: application/openmetrics-text; version=1.0.0' \
              http://127.0.0.1:9464/metrics && n=$((n + 1))
          echo $n >"$TMP/scrapes"
          sleep 1
      done ) &
    SCRAPER=$!; PIDS+=($SCRAPER)
    sleep 1
    p0=$(cpu $PLAIN); m0=$(cpu $METRICS)
    ip netns exec $NS "$BUILD/tools/ct-gen" "$N" >/dev/null
    wait_still "$TMP/plain.json" "$TMP/metrics.json"
    p1=$(cpu $PLAIN); m1=$(cpu $METRICS)
    kill -TERM $PLAIN $METRICS
    wait $PLAIN 2>/dev/null || true
    wait $METRICS 2>/dev/null || true
    wait $SCRAPER 2>/dev/null || true
    prec=$(wc -l <"$TMP/plain.json"); mrec=$(wc -l <"$TMP/metrics.json")
    pcpu=$(echo "($p1 - $p0) / $HZ" | bc -l); mcpu=$(echo "($m1 - $m0) / $HZ" | bc -l)
    prate=$(echo "$prec / ($pcpu + 0.001)" | bc -l); mrate=$(echo "$mrec / ($mcpu + 0.001)" | bc -l)
    printf '%-6s %-22s %10d %8d %8.2f %16.0f\n' "$round" "without metrics" "$prec" $((N - prec)) "$pcpu" "$prate"
    printf '%-6s %-22s %10d %8d %8.2f %16.0f\n' "$round" "scraped $(cat "$TMP/scrapes") times" "$mrec" $((N - mrec)) "$mcpu" "$mrate"
    diff=$(echo "($prate - $mrate) * 100 / $prate" | bc -l)
    sum_diff=$(echo "$sum_diff + $diff" | bc -l)
    printf '%-6s records per CPU second with metrics: %+.2f %% (positive: metrics cost)\n' "$round" "$diff"
done
printf 'mean over %d rounds: metrics cost %+.2f %% of records per CPU second\n' "$ROUNDS" \
    "$(echo "$sum_diff / $ROUNDS" | bc -l)"

# The cost of one scrape, measured alone: an idle daemon (a conntrack source
# and the endpoint), scraped 500 times back to back.
rm -f "$TMP"/*.log
ip netns exec $NS "$BUILD/nurs-lua" "$TMP/flood.lua" /dev/null metrics 2>"$TMP/idle.log" &
IDLE=$!; PIDS+=($IDLE)
for ((i = 0; i < 50; i++)); do grep -qs listening "$TMP/idle.log" && break; sleep 0.1; done
nsx curl -s -o "$TMP/sample.txt" http://127.0.0.1:9464/metrics
c0=$(cpu $IDLE)
for ((i = 0; i < 500; i++)); do
    nsx curl -s -o /dev/null -H 'Accept: application/openmetrics-text; version=1.0.0' \
        http://127.0.0.1:9464/metrics
done
c1=$(cpu $IDLE)
kill -TERM $IDLE; wait $IDLE 2>/dev/null || true
per=$(echo "($c1 - $c0) * 1000 / $HZ / 500" | bc -l)
printf 'one scrape (%d bytes, %d series) costs %.3f ms of CPU: %.3f %% of a core at one a second\n' \
    "$(wc -c <"$TMP/sample.txt")" "$(grep -vc '^#' "$TMP/sample.txt")" "$per" "$(echo "$per / 10" | bc -l)"
