#!/bin/bash
# Benchmark (not a test) of the flow exporters, in two parts.
#
# 1. Replay: 1,000,000 synthetic conntrack DESTROY records (ct-synth,
#    kernel-identical) through scripts/examples/ctflow9.lua itself, NetFlow v9
#    to a UDP sink on loopback: records/s on one core, CPU per million, peak
#    RSS, as a ratio to the C floor (decode only) of the same run
#    (bench/replay.sh's rows (a) and (e)).
# 2. Live, against ulogd2: in a private namespace, ctflow9.lua (NetFlow v9)
#    and ulogd2 (NFCT -> IPFIX, Debian's plugin) both listen to DESTROY events,
#    ulogd2 with a 4 MiB receive buffer that may grow to 64 MiB, ctflow9.lua
#    with its own (32 MiB, growing to 64 MiB), and each
#    exports to its own UDP sink on loopback. Rounds of 50,000 UDP datagrams
#    to distinct ports make entries with real counters (one direction: one
#    flow record each, for both daemons), then a flush destroys them. Reports
#    the entries made, flow records each sink received, lost, CPU seconds and
#    records per CPU second of each daemon, and the ratio. ulogd2 schedules
#    itself SCHED_RR at priority 99 (a woken reader preempts the flush that
#    makes the events: it reads them few at a time, but never falls behind);
#    nurs-lua runs as it does by default (the events pile up in ctflow9.lua's
#    32 MiB buffer and are read in batches of up to 16 datagrams), then with
#    --realtime 99 as ulogd2. A
#    third pass turns conntrack timestamps off, so that ctflow9.lua also
#    takes NEW events (for start times).
#   bench/export.sh [N] [ROUNDS]   (N live entries, default 200000, <= 2000000,
#                                   a multiple of 50000; ROUNDS of the replay, 3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-200000}
ROUNDS=${2:-3}
BATCH=50000
[ "$N" -le 2000000 ] && [ $((N % BATCH)) -eq 0 ] || { echo "N: a multiple of $BATCH up to 2000000" >&2; exit 2; }

echo "-- replay: ctflow9.lua over 1,000,000 DESTROY records, NetFlow v9 to a UDP sink"
"$ROOT/bench/replay.sh" 100000 10 "$ROUNDS" "decode ctflow9"

. "$ROOT/bench/lib-ns.sh"
bench_netns export
NURS_PORT=9995
ULOGD_PORT=4739
PLUG=/usr/lib/x86_64-linux-gnu/ulogd
HZ=$(getconf CLK_TCK)

# live_pass LABEL TIMESTAMPS [NURS_OPTION...]: a fresh namespace with
# conntrack timestamps on (1) or off (0), both daemons, N entries.
live_pass() {
    local label=$1 stamps=$2 script=$ROOT/scripts/examples/ctflow9.lua i r
    shift 2
    ip netns del $NS
    ip netns add $NS
    ip -n $NS link set lo up
    nsx sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=$stamps
    nsx nft -f - <<NFT
table inet bench {
    counter made {}
    chain raw_out { type filter hook output priority raw; udp dport { $NURS_PORT, $ULOGD_PORT } notrack; }
    chain raw_pre { type filter hook prerouting priority raw; udp dport { $NURS_PORT, $ULOGD_PORT } notrack; }
    chain out { type filter hook output priority 0; ct state new counter name made; }
}
NFT
    local sinks=()
    for name in nurs ulogd; do
        local port=$NURS_PORT
        [ $name = ulogd ] && port=$ULOGD_PORT
        rm -f "$TMP/$name.sink" "$TMP/$name.sink.err"
        # Each sink stops 4 s after its last datagram.
        ip netns exec $NS python3 "$ROOT/bench/flow_sink.py" $port 4 600 >"$TMP/$name.sink" \
            2>"$TMP/$name.sink.err" &
        sinks+=($!); PIDS+=($!)
        for ((i = 0; i < 50; i++)); do grep -qs listening "$TMP/$name.sink.err" && break; sleep 0.1; done
    done
    cat >"$TMP/ulogd.conf" <<CONF
[global]
logfile="$TMP/ulogd.log"
loglevel=3
plugin="$PLUG/ulogd_inpflow_NFCT.so"
plugin="$PLUG/ulogd_filter_IP2BIN.so"
plugin="$PLUG/ulogd_output_IPFIX.so"
stack=ct1:NFCT,ip2bin1:IP2BIN,ipfix1:IPFIX
[ct1]
hash_enable=0
event_mask=0x00000004
netlink_socket_buffer_size=4194304
netlink_socket_buffer_maxsize=67108864
[ipfix1]
oid=1
host="127.0.0.1"
port=$ULOGD_PORT
proto="udp"
mtu=1472
CONF
    : >"$TMP/nurs.log"
    ip netns exec $NS "$BUILD/nurs-lua" "$@" "$script" 127.0.0.1:$NURS_PORT 2>"$TMP/nurs.log" &
    local nurs=$!; PIDS+=($nurs)
    ip netns exec $NS ulogd -c "$TMP/ulogd.conf" 2>"$TMP/ulogd.stderr" &
    local ulogd=$!; PIDS+=($ulogd)
    for ((i = 0; i < 50; i++)); do grep -q listening "$TMP/nurs.log" && break; sleep 0.1; done
    sleep 1
    kill -0 $ulogd || { echo "ulogd2 did not start:"; cat "$TMP/ulogd.stderr" "$TMP/ulogd.log"; exit 1; }

    local n0 u0 n1 u1
    n0=$(cpu $nurs); u0=$(cpu $ulogd)
    for ((r = 0; r < N / BATCH; r++)); do
        nsx timeout 60 python3 "$ROOT/tests/kernel/lib/udp_burst.py" $BATCH 0.5 10000 >/dev/null
        nsx conntrack -F 2>/dev/null
    done
    local made
    made=$(nsx nft -j list counter inet bench made | grep -o '"packets": [0-9]*' | cut -d' ' -f2)
    wait "${sinks[@]}"
    n1=$(cpu $nurs); u1=$(cpu $ulogd)
    kill -USR1 $nurs
    sleep 0.3
    kill $nurs $ulogd
    wait $nurs $ulogd 2>/dev/null || true
    field() { sed -E "s/.*\"$2\": ([0-9]+).*/\\1/" "$TMP/$1.sink"; }
    local nrec urec novr ncpu ucpu ndrop udrop
    ndrop=$(field nurs dropped); udrop=$(field ulogd dropped)
    nrec=$(field nurs records); urec=$(field ulogd records)
    novr=$(grep 'counters conntrack:' "$TMP/nurs.log" | tail -1 | grep -o 'overruns=[0-9]*' | cut -d= -f2)
    ncpu=$(echo "($n1 - $n0) / $HZ" | bc -l); ucpu=$(echo "($u1 - $u0) / $HZ" | bc -l)
    echo
    echo "$label: $made entries made and destroyed"
    printf '  %-26s %10s %10s %10s %8s %16s\n' exporter received lost overruns cpu_s records/cpu_s
    printf '  %-26s %10d %10d %10s %8.2f %16.0f\n' "nurs-lua (NetFlow v9)" "$nrec" $((made - nrec)) \
        "${novr:-?}" "$ncpu" "$(echo "$nrec / ($ncpu + 0.001)" | bc -l)"
    printf '  %-26s %10d %10d %10s %8.2f %16.0f\n' "ulogd2 (IPFIX)" "$urec" $((made - urec)) \
        "$(grep -ci 'losing events\|enobufs' "$TMP/ulogd.log" || true)" "$ucpu" "$(echo "$urec / ($ucpu + 0.001)" | bc -l)"
    [ "$ndrop$udrop" = 00 ] || echo "  the sinks dropped datagrams (a busy machine): nurs-lua's $ndrop, ulogd2's $udrop"
    echo "  nurs-lua records per CPU second / ulogd2's:" \
        "$(echo "($nrec / ($ncpu + 0.001)) / ($urec / ($ucpu + 0.001) + 0.001)" | bc -l | xargs printf '%.2f')"
}

echo
echo "-- live: $N entries with counters, destroyed in rounds of $BATCH; both daemons listen at once"
live_pass "ctflow9.lua on DESTROY events, default scheduling; ulogd2 SCHED_RR 99" 1
live_pass "both SCHED_RR 99 (nurs-lua --realtime 99)" 1 --realtime 99
live_pass "timestamps off: ctflow9.lua also takes NEW events; default scheduling" 0
