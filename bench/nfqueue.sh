#!/bin/bash
# Benchmark (not a test): NFQUEUE throughput and added latency, in a
# private namespace, nurs-lua against a bare C receiver on
# libnetfilter_queue (tools/nfq-bare.c), one after the other on the same
# traffic, each with one verdict per packet and with batch verdicts.
#  - throughput: udp-blast sends 64-byte datagrams to a queued port as fast
#    as it can; each receiver accepts every packet; packets decided per
#    second over WINDOW seconds, CPU seconds of the receiver, and the ratio
#    to the bare receiver in the same mode;
#  - latency: 2000 sequential UDP echo round trips, with no queue, and
#    through the queue with each receiver; median and p99, and what the
#    queue adds to the median.
#   bench/nfqueue.sh [WINDOW] [ROUNDS]   (WINDOW seconds, default 3, <= 20;
#                                         ROUNDS of everything, default 2)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
WINDOW=${1:-3}
ROUNDS=${2:-2}
[ "${WINDOW%.*}" -le 20 ] && [ "$ROUNDS" -le 10 ] || { echo "WINDOW <= 20, ROUNDS <= 10" >&2; exit 2; }
NS=nurs-nfqb$$
TMP=$(mktemp -d /tmp/nurs-nfqb.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep 0.3
    ip netns del $NS 2>/dev/null || true
    [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT
ip netns add $NS
ip -n $NS link set lo up
nsx() { ip netns exec $NS "$@"; }
Q=5
# nft's queue statement where the kernel has it, else the xtables target.
for port in 7777 7778; do
    nsx nft add table inet b 2>/dev/null || true
    nsx nft add chain inet b out '{ type filter hook output priority 0; }'
    nsx nft add rule inet b out udp dport $port queue num $Q bypass 2>/dev/null ||
        nsx iptables -A OUTPUT -p udp --dport $port -j NFQUEUE --queue-num $Q --queue-bypass
done

# receiver_cmd NAME MODE WINDOW -> the command line
receiver_cmd() {
    case $1 in
    bare) echo "$BUILD/tools/nfq-bare $Q $3 $2" ;;
    nurs) echo "$BUILD/nurs-lua $ROOT/bench/nfq_bench.lua $Q $3 $2" ;;
    esac
}

start_receiver() { # start_receiver NAME MODE WINDOW OUT [timed]
    : >"$TMP/rx.log"
    local timed=()
    [ -n "${5:-}" ] && timed=(/usr/bin/time -f "cpu %U %S")
    # shellcheck disable=SC2046
    ip netns exec $NS "${timed[@]}" $(receiver_cmd "$1" "$2" "$3") >"$4" 2>"$TMP/rx.log" &
    RX=$!
    PIDS+=($RX)
    for ((i = 0; i < 50; i++)); do grep -q "bound to queue" "$TMP/rx.log" && return 0; sleep 0.1; done
    echo "receiver $1 did not start: $(cat "$TMP/rx.log")" >&2
    exit 1
}

throughput() { # throughput NAME MODE -> "rate cpu_s offered"
    start_receiver "$1" "$2" "$WINDOW" "$TMP/rx.out" timed
    nsx timeout 60 "$BUILD/tools/udp-blast" -t "$(echo "$WINDOW + 1.5" | bc)" 7777 >"$TMP/tx.out"
    timeout 30 tail --pid=$RX -f /dev/null || { kill $RX; echo "receiver hung" >&2; exit 1; }
    local rate cpu offered
    rate=$(awk '/^packets/ {print $6}' "$TMP/rx.out")
    cpu=$(awk '/^cpu/ {print $2 + $3}' "$TMP/rx.log")
    offered=$(awk '/^sent/ {printf "%.0f", $2 / $4}' "$TMP/tx.out")
    echo "${rate:-0} ${cpu:-0} ${offered:-0}"
}

latency() { # latency NAME|none MODE -> "median p99"
    local out
    if [ "$1" != none ]; then start_receiver "$1" "$2" 3600 "$TMP/rx.out"; fi
    out=$(nsx timeout 120 python3 "$ROOT/bench/nfq_rtt.py" client 7778 2000)
    if [ "$1" != none ]; then kill -TERM $RX; timeout 10 tail --pid=$RX -f /dev/null || true; fi
    awk '{print $2, $4}' <<<"$out"
}

ip netns exec $NS python3 "$ROOT/bench/nfq_rtt.py" server 7778 </dev/null >/dev/null &
PIDS+=($!)
sleep 0.3

declare -A RATE CPU OFFERED MED P99
for ((r = 1; r <= ROUNDS; r++)); do
    for mode in single batch; do
        for rx in bare nurs; do
            read -r rate cpu offered < <(throughput $rx $mode)
            RATE[$rx-$mode]="${RATE[$rx-$mode]:-} $rate"
            CPU[$rx-$mode]="${CPU[$rx-$mode]:-} $cpu"
            OFFERED[$rx-$mode]="${OFFERED[$rx-$mode]:-} $offered"
        done
    done
    read -r med p99 < <(latency none single)
    MED[none]="${MED[none]:-} $med"; P99[none]="${P99[none]:-} $p99"
    for case in bare-single nurs-single nurs-batch; do
        read -r med p99 < <(latency "${case%-*}" "${case#*-}")
        MED[$case]="${MED[$case]:-} $med"; P99[$case]="${P99[$case]:-} $p99"
    done
done

# The best of the rounds (least disturbed by other load on the machine).
best() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -1; }
least() { tr ' ' '\n' <<<"$1" | grep . | sort -g | head -1; }

echo "NFQUEUE throughput: 64-byte UDP, ${WINDOW}s windows, best of $ROUNDS rounds"
# offered: what udp-blast sent per second meanwhile (a receiver that
# decides about as many packets as were offered was not the bottleneck).
printf '%-8s %-7s %12s %12s %10s %8s\n' receiver verdicts packets/s offered/s cpu_s x_bare
for mode in single batch; do
    base=$(best "${RATE[bare-$mode]}")
    for rx in bare nurs; do
        rate=$(best "${RATE[$rx-$mode]}")
        printf '%-8s %-7s %12s %12s %10s %8s\n' $rx $mode "$rate" "$(best "${OFFERED[$rx-$mode]}")" \
            "$(least "${CPU[$rx-$mode]}")" "$(printf '%.2f' "$(echo "scale=4; $rate / $base" | bc)")"
    done
done
echo
echo "Added latency: 2000 sequential UDP echo round trips, least of $ROUNDS rounds"
printf '%-12s %10s %10s %12s\n' path median_us p99_us added_us
base=$(least "${MED[none]}")
for case in none bare-single nurs-single nurs-batch; do
    med=$(least "${MED[$case]}")
    printf '%-12s %10s %10s %12s\n' "$case" "$med" "$(least "${P99[$case]}")" \
        "$(printf '%.1f' "$(echo "$med - $base" | bc)")"
done
