#!/bin/bash
# Benchmark (not a test): replays 1,000,000 synthetic conntrack DESTROY
# records (ct-synth, byte-identical to the kernel's; 100,000 in a file,
# replayed 10 times) through:
#   (a) decode: no Lua, each message parsed as for a callback: the C floor
#   (b) trivial: a Lua callback
#   (c) fields: a callback reading 6 fields and filtering
#   (d) json: the JSON sink to /dev/null
# Prints records/s, CPU seconds per million records, peak RSS, and each
# rate as a ratio to (a) measured in the same run (best of ROUNDS).
# Then the cost of process attribution: N local connections (loopback
# addresses, a NEW and a DESTROY each), LOOPS times, through a trivial
# callback without and with `process = true` (two sock_diag lookups per NEW;
# no socket matches, so this is the loop's share, the /proc worker idle).
#   bench/replay.sh [RECORDS_PER_FILE] [LOOPS] [ROUNDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-100000}
LOOPS=${2:-10}
ROUNDS=${3:-3}
FILE=$(mktemp /tmp/nurs-bench.XXXXXX.pcap)
LOCAL=$(mktemp /tmp/nurs-bench.XXXXXX.pcap)
trap 'rm -f "$FILE" "$LOCAL"' EXIT
"$BUILD/tools/ct-synth" "$N" "$FILE" 2>/dev/null
echo "$((N * LOOPS)) records ($N in a $(($(stat -c %s "$FILE") / 1024)) KiB file, $LOOPS loops); $(nproc) cores; $(uname -r)"
# best FILE CASE: the fastest of ROUNDS runs, as its line of figures
best_of() {
    local best="" line rate
    for ((r = 0; r < ROUNDS; r++)); do
        line=$("$BUILD/nurs-lua" -l warn "$ROOT/bench/replay_bench.lua" "$1" "$2" "$LOOPS")
        rate=$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$line")
        if [ -z "$best" ] || [ "$rate" -gt "$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$best")" ]; then best=$line; fi
    done
    echo "$best"
}
get() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<" $best"; }
printf '%-10s %12s %10s %14s %13s %8s\n' case records/s wall_s cpu_s/M_rec peak_RSS_MiB x_decode
base=""
for c in decode trivial fields json; do
    best=$(best_of "$FILE" $c)
    [ -n "$base" ] || base=$(get rate)
    printf '%-10s %12s %10s %14s %13.1f %8.2f\n' "$c" "$(get rate)" "$(get wall_s)" "$(get cpu_per_M)" \
        "$(echo "$(get peak_rss_kib) / 1024" | bc -l)" "$(echo "$(get rate) / $base" | bc -l)"
    [ "$(get records)" -eq $((N * LOOPS)) ] || echo "  warning: $c delivered $(get records) records"
done

"$BUILD/tools/ct-synth" "$N" "$LOCAL" 1 local 2>/dev/null
echo
echo "process attribution: $N local connections (NEW + DESTROY each), $LOOPS loops"
printf '%-10s %12s %10s %14s %10s %10s %15s\n' case records/s wall_s cpu_s/M_rec lookups x_trivial cpu_us/connection
for c in trivial process; do
    best=$(best_of "$LOCAL" $c)
    if [ $c = trivial ]; then lbase=$(get rate); lcpu=$(get cpu_s); fi
    printf '%-10s %12s %10s %14s %10s %10.2f %15.2f\n' "$c" "$(get rate)" "$(get wall_s)" "$(get cpu_per_M)" \
        "$(get lookups)" "$(echo "$(get rate) / $lbase" | bc -l)" \
        "$(echo "($(get cpu_s) - $lcpu) * 1000000 / ($N * $LOOPS)" | bc -l)"
done
