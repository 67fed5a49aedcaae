#!/bin/bash
# Benchmark (not a test): replays 1,000,000 synthetic conntrack DESTROY
# records (ct-synth, byte-identical to the kernel's; 100,000 in a file,
# replayed 10 times) through:
#   (a) decode: no Lua, each message parsed as for a callback: the C floor
#   (b) trivial: a Lua callback
#   (c) fields: a callback reading 6 fields and filtering
#   (d) json: the JSON sink to /dev/null, from a Lua callback; jsonc: the
#       same sink given as the callback (records reach it in C)
#   (e) ctflow9: scripts/examples/ctflow9.lua itself, each entry mapped to its
#       two flows and sent as NetFlow v9 to a UDP sink on loopback (flow_sink.py,
#       which counts what arrives; a flow rate below the exporter's means loss)
# Prints records/s, CPU seconds per million records, peak RSS, and each
# rate as a ratio to (a) measured in the same run (best of ROUNDS).
# Then the cost of process attribution: N local connections (loopback
# addresses, a NEW and a DESTROY each), LOOPS times, through a trivial
# callback without and with `process = true` (two sock_diag lookups per NEW;
# no socket matches, so this is the loop's share, the /proc worker idle).
#   bench/replay.sh [RECORDS_PER_FILE] [LOOPS] [ROUNDS] [CASES]
# NURS_FLAGS passes options to nurs-lua (NURS_FLAGS="--budget 0": no time
# budget, to price it).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-100000}
LOOPS=${2:-10}
ROUNDS=${3:-3}
CASES=${4:-decode trivial fields json jsonc ctflow9}
FILE=$(mktemp /tmp/nurs-bench.XXXXXX.pcap)
SINK=$(mktemp /tmp/nurs-sink.XXXXXX)
LOCAL=$(mktemp /tmp/nurs-bench.XXXXXX.pcap)
trap 'rm -f "$FILE" "$SINK" "$SINK.err" "$LOCAL"' EXIT
"$BUILD/tools/ct-synth" "$N" "$FILE" 2>/dev/null
echo "$((N * LOOPS)) records ($N in a $(($(stat -c %s "$FILE") / 1024)) KiB file, $LOOPS loops); $(nproc) cores; $(uname -r)"
printf '%-10s %12s %10s %14s %13s %8s\n' case records/s wall_s cpu_s/M_rec peak_RSS_MiB x_decode
# One run of case $1; for ctflow9, with a sink that counts what arrives.
run_case() {
    if [ "$1" != ctflow9 ]; then
        "$BUILD/nurs-lua" -l warn ${NURS_FLAGS:-} "$ROOT/bench/replay_bench.lua" "${2:-$FILE}" "$1" "$LOOPS"
        return
    fi
    rm -f "$SINK" "$SINK.err"
    python3 "$ROOT/bench/flow_sink.py" 0 1 300 >"$SINK" 2>"$SINK.err" &
    local sink=$! i
    for ((i = 0; i < 50; i++)); do grep -qs listening "$SINK.err" && break; sleep 0.1; done
    local port
    port=$(awk '/listening/ {print $2}' "$SINK.err")
    local line
    line=$("$BUILD/nurs-lua" -l warn ${NURS_FLAGS:-} "$ROOT/bench/replay_bench.lua" "$FILE" ctflow9 "$LOOPS" \
        "$ROOT/scripts/examples/ctflow9.lua" "127.0.0.1:$port")
    wait "$sink"
    echo "$line sink_records=$(sed -E 's/.*"records": ([0-9]+).*/\1/' "$SINK")" \
        "sink_datagrams=$(sed -E 's/.*"datagrams": ([0-9]+).*/\1/' "$SINK")" \
        "sink_dropped=$(sed -E 's/.*"dropped": (-?[0-9]+).*/\1/' "$SINK")"
}
base=""
for c in $CASES; do
    best=""
    for ((r = 0; r < ROUNDS; r++)); do
        line=$(run_case $c)
        rate=$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$line")
        if [ -z "$best" ] || [ "$rate" -gt "$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$best")" ]; then best=$line; fi
    done
    get() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<" $best"; }
    [ -n "$base" ] || base=$(get rate)
    printf '%-10s %12s %10s %14s %13.1f %8.2f\n' "$c" "$(get rate)" "$(get wall_s)" "$(get cpu_per_M)" \
        "$(echo "$(get peak_rss_kib) / 1024" | bc -l)" "$(echo "$(get rate) / $base" | bc -l)"
    [ "$(get records)" -eq $((N * LOOPS)) ] || echo "  warning: $c delivered $(get records) records"
    if [ "$c" = ctflow9 ]; then
        echo "  ctflow9: $(get flows) flow records, $(echo "$(get flows) / $(get wall_s)" | bc) per second," \
            "$(echo "1000000 / $(get cpu_per_M)" | bc) conntrack records per CPU second;" \
            "the sink got $(get sink_records) flow records in $(get sink_datagrams) datagrams" \
            "(it dropped $(get sink_dropped))"
    fi
done

"$BUILD/tools/ct-synth" "$N" "$LOCAL" 1 local 2>/dev/null
echo
echo "process attribution: $N local connections (NEW + DESTROY each), $LOOPS loops"
printf '%-10s %12s %10s %14s %10s %10s %15s\n' case records/s wall_s cpu_s/M_rec lookups x_trivial cpu_us/connection
for c in trivial process; do
    best=""
    for ((r = 0; r < ROUNDS; r++)); do
        line=$(run_case $c "$LOCAL")
        rate=$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$line")
        if [ -z "$best" ] || [ "$rate" -gt "$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$best")" ]; then best=$line; fi
    done
    if [ $c = trivial ]; then lbase=$(get rate); lcpu=$(get cpu_s); fi
    printf '%-10s %12s %10s %14s %10s %10.2f %15.2f\n' "$c" "$(get rate)" "$(get wall_s)" "$(get cpu_per_M)" \
        "$(get lookups)" "$(echo "$(get rate) / $lbase" | bc -l)" \
        "$(echo "($(get cpu_s) - $lcpu) * 1000000 / ($N * $LOOPS)" | bc -l)"
done
