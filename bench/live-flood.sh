#!/bin/bash
# Benchmark (not a test): a live conntrack flood in a private namespace.
# ct-gen creates and deletes N entries as fast as the kernel takes them
# (batched ctnetlink requests); nurs-lua and ulogd2 (NFCT -> IP2STR -> JSON,
# Debian's package) both subscribe to DESTROY events at the same time, each
# with the same receive buffer (4 MiB) that may grow to 64 MiB, and each writes
# every event as a JSON line. Reports events the kernel emitted, events
# each received and lost, CPU seconds and records per CPU second of each.
#   bench/live-flood.sh [N] [RCVBUF_MIB] [MODE]
#     N default 200000 (<= 2000000); RCVBUF_MIB the initial buffer of both
#     (default 4); MODE:
#       matched   both with RCVBUF_MIB, growing to 64 MiB (default)
#       defaults  as shipped: scripts/examples/ct-json.lua FILE destroy, and
#                 ulogd2 without buffer settings
#       reliable  nurs-lua with reliable = true and RCVBUF_MIB that never
#                 grows; ulogd2 with the same buffer (and its own
#                 netlink_events_reliable)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-200000}
RCVBUF=$(( ${2:-4} << 20 ))
MODE=${3:-matched}
[ "$N" -le 2000000 ] || { echo "N too large" >&2; exit 2; }
. "$ROOT/bench/lib-ns.sh"
bench_netns flood
PLUG=/usr/lib/x86_64-linux-gnu/ulogd

cat >"$TMP/ulogd.conf" <<CONF
[global]
logfile="$TMP/ulogd.log"
loglevel=3
plugin="$PLUG/ulogd_inpflow_NFCT.so"
plugin="$PLUG/ulogd_filter_IP2STR.so"
plugin="$PLUG/ulogd_output_JSON.so"
stack=ct1:NFCT,ip2str1:IP2STR,json1:JSON
[ct1]
hash_enable=0
event_mask=0x00000004
$(case $MODE in
    matched) printf 'netlink_socket_buffer_size=%s\nnetlink_socket_buffer_maxsize=67108864\n' "$RCVBUF" ;;
    reliable) printf 'netlink_socket_buffer_size=%s\nnetlink_socket_buffer_maxsize=%s\nnetlink_events_reliable=1\n' "$RCVBUF" "$RCVBUF" ;;
esac)
[json1]
sync=0
file="$TMP/ulogd.json"
CONF
cat >"$TMP/flood.lua" <<'LUA'
local nurs = require "nurs"
local out = nurs.json { path = arg[1], buffer = 1 << 20 }
local reliable = arg[3] == "reliable"
nurs.conntrack({ events = { "destroy" }, rcvbuf = tonumber(arg[2]), reliable = reliable,
                 rcvbuf_max = reliable and tonumber(arg[2]) or 64 << 20 },
  function(rec) out:write(rec) end)
LUA
if [ "$MODE" = defaults ]; then
    NURS_ARGS=("$ROOT/scripts/examples/ct-json.lua" "$TMP/nurs.json" destroy)
else
    NURS_ARGS=("$TMP/flood.lua" "$TMP/nurs.json" "$RCVBUF" "$MODE")
fi
echo "mode $MODE"

ip netns exec $NS "$BUILD/nurs-lua" "${NURS_ARGS[@]}" 2>"$TMP/nurs.log" &
NURS_PID=$!; PIDS+=($NURS_PID)
ip netns exec $NS ulogd -c "$TMP/ulogd.conf" 2>"$TMP/ulogd.stderr" &
ULOGD_PID=$!; PIDS+=($ULOGD_PID)
for ((i = 0; i < 50; i++)); do grep -q listening "$TMP/nurs.log" && break; sleep 0.1; done
sleep 1
kill -0 $ULOGD_PID || { echo "ulogd2 did not start:"; cat "$TMP/ulogd.stderr" "$TMP/ulogd.log"; exit 1; }

n0=$(cpu $NURS_PID); u0=$(cpu $ULOGD_PID)
gen=$(ip netns exec $NS "$BUILD/tools/ct-gen" "$N")
echo "generator: $gen"
wait_still "$TMP/nurs.json" "$TMP/ulogd.json"
n1=$(cpu $NURS_PID); u1=$(cpu $ULOGD_PID)
kill -TERM $NURS_PID $ULOGD_PID
wait $NURS_PID 2>/dev/null || true
wait $ULOGD_PID 2>/dev/null || true
HZ=$(getconf CLK_TCK)
nrec=$(wc -l <"$TMP/nurs.json")
urec=$(wc -l <"$TMP/ulogd.json" 2>/dev/null || echo 0)
novr=$(grep 'counters conntrack:' "$TMP/nurs.log" | tail -1 | grep -o 'overruns=[0-9]*' | cut -d= -f2)
ncpu=$(echo "($n1 - $n0) / $HZ" | bc -l); ucpu=$(echo "($u1 - $u0) / $HZ" | bc -l)
echo "kernel emitted $N DESTROY events"
printf '%-10s %10s %10s %10s %8s %16s\n' daemon received lost overruns cpu_s records/cpu_s
printf '%-10s %10d %10d %10s %8.2f %16.0f\n' nurs-lua "$nrec" $((N - nrec)) "${novr:-?}" "$ncpu" \
    "$(echo "$nrec / ($ncpu + 0.001)" | bc -l)"
printf '%-10s %10d %10d %10s %8.2f %16.0f\n' ulogd2 "$urec" $((N - urec)) \
    "$(grep -ci 'losing events\|enobufs' "$TMP/ulogd.log" || true)" "$ucpu" "$(echo "$urec / ($ucpu + 0.001)" | bc -l)"
echo "nurs-lua records per CPU second / ulogd2's: $(echo "($nrec / ($ncpu + 0.001)) / ($urec / ($ucpu + 0.001) + 0.001)" | bc -l | xargs printf '%.2f')"
