#!/bin/bash
# Benchmark (not a test): instructions per record of the trivial-callback
# replay row of bench/replay.sh (attribution off), counted by callgrind:
# the same synthetic file replayed once and LOOPS times, the difference
# divided by the extra records, so start-up cost cancels out. Without
# address randomization (Lua seeds its string hashes from addresses: with
# it, counts swing by 1-2%). Exact where timings swing: compare builds
# (before and after a change) in one run.
#   bench/replay-ir.sh [BUILD_DIR...]   (default: build; N records per file, LOOPS)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-20000}
LOOPS=${LOOPS:-4}
FILE=$(mktemp /tmp/nurs-ir.XXXXXX.pcap)
trap 'rm -f "$FILE"' EXIT
builds=("$@")
[ ${#builds[@]} -gt 0 ] || builds=("$ROOT/build")
"${builds[0]}/tools/ct-synth" "$N" "$FILE" 2>/dev/null
ir() { # ir BUILD LOOPS
    setarch "$(uname -m)" -R valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1/nurs-lua" -l warn \
        "$ROOT/bench/replay_bench.lua" "$FILE" trivial "$2" 2>&1 | sed -n 's/.*Collected : //p'
}
printf '%-50s %12s\n' build Ir/record
for b in "${builds[@]}"; do
    one=$(ir "$b" 1)
    many=$(ir "$b" "$LOOPS")
    printf '%-50s %12d\n' "$b" $(((many - one) / (N * (LOOPS - 1))))
done
