#!/bin/bash
# Benchmark (not a test): NFLOG into a pcap file, three receivers one after
# the other on identical traffic in a private namespace: udp-blast sends N
# UDP datagrams of SIZE bytes to a port that an nft rule logs to NFLOG
# group 9 (with a counter: what the kernel logged), and
#   - nurs-lua, a trivial Lua callback (out:write(rec)) into nurs.pcap;
#   - nflog-bare, a plain C libnetfilter_log receiver writing pcap (the
#     reference);
#   - ulogd2, NFLOG -> BASE -> PCAP (Debian's ulogd2-pcap), sync=0;
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
    chain out { type filter hook output priority 0; udp dport 30000 counter log group 9; }
}
NFT
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
local out = nurs.pcap { path = arg[1] }
nurs.nflog({ group = 9, rcvbuf = tonumber(arg[2]), rcvbuf_max = tonumber(arg[2]) },
  function(rec) out:write(rec) end)
LUA

logged() { nsx nft list chain inet bench out | grep -o 'packets [0-9]*' | cut -d' ' -f2; }
count() { # packets in a pcap file, from its record headers
    python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
off, n = 24, 0
while off + 16 <= len(data):
    off += 16 + struct.unpack_from("<I", data, off + 8)[0]
    n += 1
print(n)
PY
}
wait_quiet() { # until the file stops growing (at most 60 s)
    local prev="" now same=0
    for ((i = 0; i < 120 && same < 3; i++)); do
        sleep 0.5
        now=$(stat -c %s "$1" 2>/dev/null || echo 0)
        if [ "$now" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$now
    done
}

HZ=$(getconf CLK_TCK)
declare -A RES
run() { # run NAME OUTPUT COMMAND...
    local name=$1 outfile=$2; shift 2
    ip netns exec "$NS" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    PID=$!; PIDS+=("$PID")
    sleep 1.5
    kill -0 $PID 2>/dev/null || { echo "$name did not start:"; cat "$TMP/$name.err"; exit 1; }
    local l0 c0 c1 blast
    l0=$(logged); c0=$(cpu $PID)
    blast=$(nsx "$BUILD/tools/udp-blast" -c "$N" -s "$SIZE" -r "$PPS" 30000)
    wait_quiet "$outfile"
    c1=$(cpu $PID)
    kill -TERM $PID; wait $PID 2>/dev/null || true
    [ "$name" = ulogd2 ] && sleep 0.5
    local l=$(( $(logged) - l0 )) w secs
    w=$(count "$outfile")
    secs=$(awk '{print $4}' <<<"$blast")
    local cpus; cpus=$(echo "($c1 - $c0) / $HZ" | bc -l)
    RES[$name]="$l $w $cpus $secs"
    printf '%-10s %9d %9d %9d %8.2f %12.0f %12.0f\n' "$name" "$l" "$w" $((l - w)) "$cpus" \
        "$(echo "$w / ($cpus + 0.001)" | bc -l)" "$(echo "$N / $secs" | bc -l)"
}

echo "N=$N datagrams of $SIZE bytes, sender rate $PPS (0: flat out), $((RCVBUF >> 20)) MiB receive buffers"
printf '%-10s %9s %9s %9s %8s %12s %12s\n' receiver logged written lost cpu_s pkts/cpu_s sent/s
run nurs-lua "$TMP/nurs.pcap" "$BUILD/nurs-lua" "$TMP/nurs.lua" "$TMP/nurs.pcap" "$RCVBUF"
run bare "$TMP/bare.pcap" "$BUILD/tools/nflog-bare" 9 "$TMP/bare.pcap" "$RCVBUF"
run ulogd2 "$TMP/ulogd.pcap" ulogd -c "$TMP/ulogd.conf"
read -r nl nw nc _ <<<"${RES[nurs-lua]}"
read -r bl bw bc _ <<<"${RES[bare]}"
echo "nurs-lua / bare: packets per CPU second $(echo "($nw / ($nc + 0.001)) / ($bw / ($bc + 0.001))" | bc -l | xargs printf '%.2f'), written $(echo "$nw / $bw" | bc -l | xargs printf '%.2f')"
grep -h 'counters nflog' "$TMP/nurs-lua.err" | sed 's/^.*counters/nurs-lua counters/' || true
echo "bare: $(cat "$TMP/bare.out")"
