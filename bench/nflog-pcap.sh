#!/bin/bash
# Benchmark (not a test): NFLOG into a pcap file, receivers one after
# the other on identical traffic in a private namespace: udp-blast sends N
# UDP datagrams of SIZE bytes to a port that an nft rule logs to NFLOG
# group 9 (with a counter: what the kernel logged), and
#   - nurs-lua, a trivial Lua callback (out:write(rec)) into nurs.pcap;
#   - nflog-bare, a plain C libnetfilter_log receiver writing pcap (the
#     reference);
#   - ulogd2, NFLOG -> BASE -> PCAP (Debian's ulogd2-pcap), sync=0;
# then, with the rule spreading packets over groups 9 and 10 (numgen inc
# mod 2), nurs-lua with 2 worker loops and nflog-bare with 2 threads, each
# loop or thread writing its own file (shared-nothing);
# each with the same kernel settings (copy range 65535, 64 KiB batches of
# up to 100 messages, 10 ms flush) and the same fixed receive buffer.
# Reports packets logged, written to the pcap, lost, receiver CPU seconds,
# packets per CPU second and the sender's rate, then nurs-lua's ratios to
# the reference.
#   bench/nflog-pcap.sh [N] [SIZE] [PPS] [MIB]   (N default 500000 <= 5000000,
#       SIZE 200, PPS 0: as fast as it goes, MIB: receive buffers, default 8)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-500000}
SIZE=${2:-200}
PPS=${3:-0}
RCVBUF=$(( ${4:-8} << 20 ))
[ "$N" -le 5000000 ] || { echo "N too large" >&2; exit 2; }
. "$ROOT/bench/lib-ns.sh"
bench_netns nflb
nsx nft -f - <<'NFT'
table inet bench {
    chain g9 { log group 9; }
    chain g10 { log group 10; }
    chain out { type filter hook output priority 0; udp dport 30000 counter jump g9; }
}
NFT
spread() { # spread 1|2: log to group 9, or alternately to 9 and 10
    nsx nft flush chain inet bench out
    if [ "$1" = 1 ]; then
        nsx nft add rule inet bench out udp dport 30000 counter jump g9
    else
        nsx nft add rule inet bench out udp dport 30000 counter numgen inc mod 2 vmap '{ 0 : jump g9, 1 : jump g10 }'
    fi
}
PLUG=/usr/lib/x86_64-linux-gnu/ulogd
cat >"$TMP/ulogd.conf" <<CONF
[global]
logfile="$TMP/ulogd.log"
loglevel=3
plugin="$PLUG/ulogd_inppkt_NFLOG.so"
plugin="$PLUG/ulogd_raw2packet_BASE.so"
plugin="$PLUG/ulogd_output_PCAP.so"
stack=log1:NFLOG,base1:BASE,pcap1:PCAP
[log1]
group=9
netlink_socket_buffer_size=$RCVBUF
netlink_socket_buffer_maxsize=$RCVBUF
netlink_qthreshold=100
netlink_qtimeout=1
[pcap1]
file="$TMP/ulogd.pcap"
sync=0
CONF
cat >"$TMP/nurs.lua" <<'LUA'
local nurs = require "nurs"
local workers = tonumber(arg[3]) or 1
-- One file per worker loop, as nflog-bare's threads write theirs.
local path = workers > 1 and arg[1] .. "." .. nurs.worker.id or arg[1]
local out = (workers == 1 or nurs.worker.id > 0) and nurs.pcap { path = path }
local groups = workers > 1 and { 9, 10 } or { 9 }
nurs.nflog({ groups = groups, workers = workers, rcvbuf = tonumber(arg[2]),
             rcvbuf_max = tonumber(arg[2]) },
  function(rec) out:write(rec) end)
LUA

logged() { nsx nft list chain inet bench out | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
count() { # packets in pcap files, from their record headers
    python3 - "$@" <<'PY'
import struct, sys
n = 0
for path in sys.argv[1:]:
    data = open(path, "rb").read()
    off = 24
    while off + 16 <= len(data):
        off += 16 + struct.unpack_from("<I", data, off + 8)[0]
        n += 1
print(n)
PY
}
wait_quiet() { # until the files stop growing (at most 60 s)
    local prev="" now same=0
    for ((i = 0; i < 120 && same < 3; i++)); do
        sleep 0.5
        now=$(stat -c %s "$@" 2>/dev/null | tr '\n' ' ')
        if [ "$now" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$now
    done
}

HZ=$(getconf CLK_TCK)
declare -A RES
run() { # run NAME THREADS OUTPUT COMMAND... (2 threads: OUTPUT.1 and OUTPUT.2)
    local name=$1 threads=$2 outfiles=("$3"); shift 3
    [ "$threads" = 1 ] || outfiles=("${outfiles[0]}.1" "${outfiles[0]}.2")
    spread "$threads"
    ip netns exec "$NS" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!; PIDS+=("$PID")
    sleep 1.5
    kill -0 $PID 2>/dev/null || { echo "$name did not start:"; cat "$TMP/$name.err"; exit 1; }
    local l0 c0 c1 blast
    l0=$(logged); c0=$(cpu $PID)
    blast=$(nsx "$BUILD/tools/udp-blast" -c "$N" -s "$SIZE" -r "$PPS" 30000)
    wait_quiet "${outfiles[@]}"
    c1=$(cpu $PID)
    kill -TERM $PID; wait $PID 2>/dev/null || true
    [ "$name" = ulogd2 ] && sleep 0.5
    local l=$(( $(logged) - l0 )) w secs
    w=$(count "${outfiles[@]}")
    secs=$(awk '{print $4}' <<<"$blast")
    local cpus; cpus=$(echo "($c1 - $c0) / $HZ" | bc -l)
    RES[$name]="$l $w $cpus $secs"
    printf '%-12s %9d %9d %9d %8.2f %12.0f %12.0f\n' "$name" "$l" "$w" $((l - w)) "$cpus" \
        "$(echo "$w / ($cpus + 0.001)" | bc -l)" "$(echo "$N / $secs" | bc -l)"
}

echo "N=$N datagrams of $SIZE bytes, sender rate $PPS (0: flat out), $((RCVBUF >> 20)) MiB receive buffers"
printf '%-12s %9s %9s %9s %8s %12s %12s\n' receiver logged written lost cpu_s pkts/cpu_s sent/s
run nurs-lua 1 "$TMP/nurs.pcap" "$BUILD/nurs-lua" "$TMP/nurs.lua" "$TMP/nurs.pcap" "$RCVBUF"
run bare 1 "$TMP/bare.pcap" "$BUILD/tools/nflog-bare" 9 "$TMP/bare.pcap" "$RCVBUF"
[ -n "${NO_ULOGD:-}" ] || run ulogd2 1 "$TMP/ulogd.pcap" ulogd -c "$TMP/ulogd.conf"
run nurs-lua-2w 2 "$TMP/nurs2.pcap" "$BUILD/nurs-lua" "$TMP/nurs.lua" "$TMP/nurs2.pcap" "$RCVBUF" 2
run bare-2t 2 "$TMP/bare2.pcap" "$BUILD/tools/nflog-bare" 9 "$TMP/bare2.pcap" "$RCVBUF" 2
# rate: packets written per second of the sender's run (the receivers keep
# up or lose packets; per CPU second says what each packet cost).
ratios() { # ratios A B
    read -r _ aw ac as <<<"${RES[$1]}"
    read -r _ bw bc bs <<<"${RES[$2]}"
    echo "$1 / $2: packets per CPU second $(echo "($aw / ($ac + 0.001)) / ($bw / ($bc + 0.001))" | bc -l | xargs printf '%.2f'), written $(echo "$aw / $bw" | bc -l | xargs printf '%.2f')"
}
ratios nurs-lua bare
ratios nurs-lua-2w bare-2t
ratios nurs-lua-2w nurs-lua
grep -h 'counters nflog' "$TMP/nurs-lua.err" | sed 's/^.*counters/nurs-lua counters/' || true
echo "bare: $(cat "$TMP/bare.out")"
