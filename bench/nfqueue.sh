#!/bin/bash
# Benchmark (not a test): NFQUEUE throughput and added latency, in a
# private namespace, nurs-lua against a bare C receiver on
# libnetfilter_queue (tools/nfq-bare.c), one after the other on the same
# traffic, each with one verdict per packet and with batch verdicts, with
# 1 and with 2 threads (nurs-lua: worker loops; bare: one thread per
# queue).
#  - throughput: two udp-blast, one pinned to each of CPUs 0 and 1, send
#    64-byte datagrams to a queued port as fast as they can; with 2
#    threads the rule spreads them over two queues by CPU
#    (--queue-balance Q:Q+1 --queue-cpu-fanout: queue num Q-Q+1 fanout);
#    each receiver accepts every packet; packets decided per second over
#    WINDOW seconds, CPU seconds of the receiver, the ratio to the bare
#    receiver with as many threads in the same mode, and to the same
#    receiver with 1 thread;
#  - latency: 2000 sequential UDP echo round trips, with no queue, and
#    through the queue with each receiver; median and p99, and what the
#    queue adds to the median.
#   bench/nfqueue.sh [WINDOW] [ROUNDS]   (WINDOW seconds, default 3, <= 20;
#                                         ROUNDS of everything, default 2;
#                                         THREADS="1 2" by default)
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
# Latency on port 7778 (queue Q); throughput on 7777 through chain NQB,
# set for 1 or 2 queues. nft's queue statement where the kernel has it,
# else the xtables target (nft on some kernels has no queue statement).
nsx nft add table inet b 2>/dev/null || true
nsx nft add chain inet b out '{ type filter hook output priority 0; }'
nsx nft add rule inet b out udp dport 7778 queue num $Q bypass 2>/dev/null ||
    nsx iptables -A OUTPUT -p udp --dport 7778 -j NFQUEUE --queue-num $Q --queue-bypass
nsx iptables -N NQB
nsx iptables -A OUTPUT -p udp --dport 7777 -j NQB
set_queues() { # set_queues THREADS
    nsx iptables -F NQB
    if [ "$1" = 1 ]; then
        nsx iptables -A NQB -j NFQUEUE --queue-num $Q --queue-bypass
    else
        nsx iptables -A NQB -j NFQUEUE --queue-balance $Q:$((Q + $1 - 1)) --queue-cpu-fanout \
            --queue-bypass
    fi
}

# receiver_cmd NAME MODE WINDOW THREADS -> the command line
receiver_cmd() {
    local qs=$Q
    [ "$4" -gt 1 ] && qs=$Q-$((Q + $4 - 1))
    case $1 in
    bare) echo "$BUILD/tools/nfq-bare $Q $3 $2 $4" ;;
    nurs) echo "$BUILD/nurs-lua ${NURS_FLAGS:-} $ROOT/bench/nfq_bench.lua $qs $3 $2 $4" ;;
    esac
}

start_receiver() { # start_receiver NAME MODE WINDOW THREADS OUT [timed]
    : >"$TMP/rx.log"
    local timed=()
    [ -n "${6:-}" ] && timed=(/usr/bin/time -f "cpu %U %S")
    # shellcheck disable=SC2046
    ip netns exec $NS "${timed[@]}" $(receiver_cmd "$1" "$2" "$3" "$4") >"$5" 2>"$TMP/rx.log" &
    RX=$!
    PIDS+=($RX)
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c "bound to queue" "$TMP/rx.log")" -ge "$4" ] && return 0
        sleep 0.1
    done
    echo "receiver $1 did not start: $(cat "$TMP/rx.log")" >&2
    exit 1
}

throughput() { # throughput NAME MODE THREADS -> "rate cpu_s offered"
    set_queues "$3"
    start_receiver "$1" "$2" "$WINDOW" "$3" "$TMP/rx.out" timed
    local secs c senders=()
    secs=$(echo "$WINDOW + 1.5" | bc)
    for c in 0 1; do
        nsx taskset -c $c timeout 60 "$BUILD/tools/udp-blast" -t "$secs" 7777 >"$TMP/tx$c.out" &
        senders+=($!)
    done
    wait "${senders[@]}" || true
    timeout 30 tail -s 0.05 --pid=$RX -f /dev/null || { kill $RX; echo "receiver hung" >&2; exit 1; }
    local rate cpu offered
    rate=$(awk '/^packets/ {print $6}' "$TMP/rx.out")
    cpu=$(awk '/^cpu/ {print $2 + $3}' "$TMP/rx.log")
    offered=$(cat "$TMP/tx0.out" "$TMP/tx1.out" | awk '/^sent/ {s += $2 / $4} END {printf "%.0f", s}')
    echo "${rate:-0} ${cpu:-0} ${offered:-0}"
}

latency() { # latency NAME|none MODE -> "median p99"
    local out
    if [ "$1" != none ]; then start_receiver "$1" "$2" 3600 1 "$TMP/rx.out"; fi
    out=$(nsx timeout 120 python3 "$ROOT/bench/nfq_rtt.py" client 7778 2000)
    if [ "$1" != none ]; then kill -TERM $RX; timeout 10 tail -s 0.05 --pid=$RX -f /dev/null || true; fi
    awk '{print $2, $4}' <<<"$out"
}

ip netns exec $NS python3 "$ROOT/bench/nfq_rtt.py" server 7778 </dev/null >/dev/null &
PIDS+=($!)
sleep 0.3

declare -A RATE CPU OFFERED MED P99
THREADS=${THREADS:-1 2}
for ((r = 1; r <= ROUNDS; r++)); do
    for mode in single batch; do
        for t in $THREADS; do
            for rx in bare nurs; do
                read -r rate cpu offered < <(throughput $rx $mode $t)
                k=$rx-$mode-$t
                RATE[$k]="${RATE[$k]:-} $rate"
                CPU[$k]="${CPU[$k]:-} $cpu"
                OFFERED[$k]="${OFFERED[$k]:-} $offered"
            done
        done
    done
    read -r med p99 < <(latency none single)
    MED[none]="${MED[none]:-} $med"; P99[none]="${P99[none]:-} $p99"
    for case in bare-single nurs-single nurs-batch; do
        read -r med p99 < <(latency "${case%-*}" "${case#*-}")
        MED[$case]="${MED[$case]:-} $med"; P99[$case]="${P99[$case]:-} $p99"
    done
done

# The best of the rounds (least disturbed by other load on the machine),
# and the spread (worst to best).
best() { tr ' ' '\n' <<<"$1" | grep . | sort -g | tail -1; }
least() { tr ' ' '\n' <<<"$1" | grep . | sort -g | head -1; }
ratio() { printf '%.2f' "$(echo "scale=4; $1 / $2" | bc)"; }

echo "NFQUEUE throughput: 64-byte UDP from 2 senders (CPUs 0, 1), ${WINDOW}s windows, best of $ROUNDS rounds"
# offered: what udp-blast sent per second meanwhile (a receiver that
# decides about as many packets as were offered was not the bottleneck).
# x_bare: against bare with as many threads; x_1: against itself with 1.
printf '%-8s %-7s %7s %12s %12s %10s %8s %6s  %s\n' receiver verdicts threads packets/s offered/s \
    cpu_s x_bare x_1 "rounds (packets/s)"
for mode in single batch; do
    for t in $THREADS; do
        base=$(best "${RATE[bare-$mode-$t]}")
        for rx in bare nurs; do
            k=$rx-$mode-$t
            rate=$(best "${RATE[$k]}")
            one=$(best "${RATE[$rx-$mode-1]:-$rate}")
            printf '%-8s %-7s %7s %12s %12s %10s %8s %6s  %s\n' $rx $mode $t "$rate" \
                "$(best "${OFFERED[$k]}")" "$(least "${CPU[$k]}")" "$(ratio "$rate" "$base")" \
                "$(ratio "$rate" "$one")" "${RATE[$k]# }"
        done
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
