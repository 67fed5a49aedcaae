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
#   bench/replay.sh [RECORDS_PER_FILE] [LOOPS] [ROUNDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-100000}
LOOPS=${2:-10}
ROUNDS=${3:-3}
FILE=$(mktemp /tmp/nurs-bench.XXXXXX.pcap)
trap 'rm -f "$FILE"' EXIT
"$BUILD/tools/ct-synth" "$N" "$FILE" 2>/dev/null
echo "$((N * LOOPS)) records ($N in a $(($(stat -c %s "$FILE") / 1024)) KiB file, $LOOPS loops); $(nproc) cores; $(uname -r)"
printf '%-10s %12s %10s %14s %13s %8s\n' case records/s wall_s cpu_s/M_rec peak_RSS_MiB x_decode
base=""
for c in decode trivial fields json; do
    best=""
    for ((r = 0; r < ROUNDS; r++)); do
        line=$("$BUILD/nurs-lua" -l warn "$ROOT/bench/replay_bench.lua" "$FILE" $c "$LOOPS")
        rate=$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$line")
        if [ -z "$best" ] || [ "$rate" -gt "$(sed -E 's/.*rate=([0-9]+).*/\1/' <<<"$best")" ]; then best=$line; fi
    done
    get() { sed -E "s/.* $1=([0-9.]+).*/\1/" <<<" $best"; }
    [ -n "$base" ] || base=$(get rate)
    printf '%-10s %12s %10s %14s %13.1f %8.2f\n' "$c" "$(get rate)" "$(get wall_s)" "$(get cpu_per_M)" \
        "$(echo "$(get peak_rss_kib) / 1024" | bc -l)" "$(echo "$(get rate) / $base" | bc -l)"
    [ "$(get records)" -eq $((N * LOOPS)) ] || echo "  warning: $c delivered $(get records) records"
done
