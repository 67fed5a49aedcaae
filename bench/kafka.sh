#!/bin/bash
# Benchmark (not a test) of the Kafka sink: 1,000,000 synthetic conntrack
# DESTROY records (ct-synth, kernel-identical; 100,000 in a file, replayed
# 10 times) through scripts/examples/ct-kafka.lua itself, to librdkafka's
# mock cluster on loopback (tools/kafka-mock, another process), as
# protobuf flows (one message per direction: ~2,000,000 messages; or one
# per connection, biflow: 1,000,000) and as JSON records (1,000,000
# messages), beside, in the same run, the C floor
# (decode only) and scripts/examples/ctipfix.lua exporting IPFIX to a UDP
# sink on loopback. Each case's time includes waiting for the broker to
# acknowledge every message; CPU is the whole process's (librdkafka's
# threads included). Prints records/s, CPU seconds per million records,
# peak RSS and the CPU cost per record as a ratio to IPFIX's (best of
# ROUNDS, by CPU). Then the queue full: the broker down from the start, the
# same replay fills the sink's queue to its bound (ct-kafka.lua's defaults:
# 100,000 messages, 64 MiB) and the rest is dropped: peak RSS and counts.
#   bench/kafka.sh [RECORDS_PER_FILE] [LOOPS] [ROUNDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-100000}
LOOPS=${2:-10}
ROUNDS=${3:-3}
TMPD=$(mktemp -d /tmp/nurs-kbench.XXXXXX)
FILE=$TMPD/records.pcap
MOCK=""
cleanup() {
    [ -n "$MOCK" ] && kill "$MOCK" 2>/dev/null || true
    rm -rf "$TMPD"
}
trap cleanup EXIT
"$BUILD/tools/ct-synth" "$N" "$FILE" 2>/dev/null
EX=$ROOT/scripts/examples

# A fresh mock cluster (its memory holds every message) in $BOOT.
mock_start() {
    rm -f "$TMPD/mock.in" "$TMPD/mock.out"
    mkfifo "$TMPD/mock.in"
    "$BUILD/tools/kafka-mock" -t flows <"$TMPD/mock.in" >"$TMPD/mock.out" 2>/dev/null &
    MOCK=$!
    exec 7>"$TMPD/mock.in"
    local i
    for ((i = 0; i < 50; i++)); do [ -s "$TMPD/mock.out" ] && break; sleep 0.1; done
    BOOT=$(head -1 "$TMPD/mock.out")
}
mock_stop() {
    echo quit >&7
    exec 7>&-
    wait "$MOCK" || true
    MOCK=""
}

run_case() {
    case $1 in
    decode)
        "$BUILD/nurs-lua" -l warn "$ROOT/bench/replay_bench.lua" "$FILE" decode "$LOOPS" ;;
    ipfix)
        python3 "$ROOT/bench/flow_sink.py" 0 1 300 >"$TMPD/sink" 2>"$TMPD/sink.err" &
        local sink=$! i port
        for ((i = 0; i < 50; i++)); do grep -qs listening "$TMPD/sink.err" && break; sleep 0.1; done
        port=$(awk '/listening/ {print $2}' "$TMPD/sink.err")
        "$BUILD/nurs-lua" -l warn "$ROOT/bench/replay_bench.lua" "$FILE" ipfix "$LOOPS" \
            "$EX/ctipfix.lua" "127.0.0.1:$port"
        wait "$sink" ;;
    kafka-*)
        mock_start
        local args=(json)
        [ "$1" = kafka-proto ] && args=(proto)
        [ "$1" = kafka-biflow ] && args=(proto biflow)
        "$BUILD/nurs-lua" -l warn "$ROOT/bench/replay_bench.lua" "$FILE" "$1" "$LOOPS" \
            "$EX/ct-kafka.lua" "$BOOT" flows "${args[@]}"
        mock_stop ;;
    esac
}

get() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<" $2"; }
echo "$((N * LOOPS)) records ($N in a file, $LOOPS loops); $(nproc) cores; $(uname -r); librdkafka $(pkg-config --modversion rdkafka)"
printf '%-12s %10s %8s %12s %9s %10s %10s %8s %8s\n' case records/s wall_s cpu_s/M_rec RSS_MiB messages delivered dropped x_ipfix
declare -A BEST
for c in decode ipfix kafka-proto kafka-biflow kafka-json; do
    best=""
    for ((r = 0; r < ROUNDS; r++)); do
        line=$(run_case $c)
        if [ -z "$best" ] || (($(echo "$(get cpu_per_M "$line") < $(get cpu_per_M "$best")" | bc -l))); then
            best=$line
        fi
    done
    BEST[$c]=$best
    ratio=-
    [ -n "${BEST[ipfix]:-}" ] && ratio=$(printf '%.2f' "$(echo "$(get cpu_per_M "$best") / $(get cpu_per_M "${BEST[ipfix]}")" | bc -l)")
    msgs=$(get flows "$best")
    [ "$c" = kafka-json ] || [ "$c" = kafka-biflow ] && msgs=$(get kafka_produced "$best")
    printf '%-12s %10s %8s %12s %9.1f %10s %10s %8s %8s\n' "$c" "$(get rate "$best")" "$(get wall_s "$best")" \
        "$(get cpu_per_M "$best")" "$(echo "$(get peak_rss_kib "$best") / 1024" | bc -l)" "$msgs" \
        "$(get kafka_delivered "$best")" "$(get kafka_dropped "$best")" "$ratio"
done
echo "(ipfix: messages are flow records; kafka: messages produced, delivered = acknowledged by the broker)"

echo
echo "queue full: the broker down from the start; ct-kafka.lua's queue bound is 100000 messages / 64 MiB"
mock_start
echo down >&7
line=$("$BUILD/nurs-lua" -l error "$ROOT/bench/replay_bench.lua" "$FILE" kafka-full "$LOOPS" \
    "$EX/ct-kafka.lua" "$BOOT" flows proto)
mock_stop
printf '  %s records in %s s, peak RSS %.1f MiB: %s messages queued (none delivered: %s), %s dropped\n' \
    "$(get records "$line")" "$(get wall_s "$line")" "$(echo "$(get peak_rss_kib "$line") / 1024" | bc -l)" \
    "$(get kafka_produced "$line")" "$(get kafka_delivered "$line")" "$(get kafka_dropped "$line")"
