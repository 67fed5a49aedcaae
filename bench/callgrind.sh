#!/bin/bash
# Benchmark (not a test): instructions per record, counted by callgrind,
# of the replay cases of bench/replay_bench.lua. Instruction counts repeat
# run after run whatever else the machine does, so two builds (before and
# after a change) compare exactly, minutes apart. Each case is replayed
# with SMALL and LARGE records; the difference divided by LARGE - SMALL
# leaves out start-up and exit.
#   bench/callgrind.sh [CASES] [BUILD_DIR...]
# e.g. bench/callgrind.sh "trivial fields json jsonc ctflow9" /tmp/before build
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CASES=${1:-trivial fields json jsonc ctflow9}
shift || true
BUILDS=("$@")
[ ${#BUILDS[@]} -gt 0 ] || BUILDS=("$ROOT/build")
SMALL=${SMALL:-5000}
LARGE=${LARGE:-25000}
TMP=$(mktemp -d /tmp/nurs-callgrind.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT

synth="${BUILDS[0]}/tools/ct-synth"
"$synth" "$SMALL" "$TMP/small.pcap" 2>/dev/null
"$synth" "$LARGE" "$TMP/large.pcap" 2>/dev/null

# Instructions of one run: build $1, case $2, file $3.
instructions() {
    local args=("$ROOT/bench/replay_bench.lua" "$3" "$2" 1) sink=""
    if [ "$2" = ctflow9 ]; then
        python3 "$ROOT/bench/flow_sink.py" 0 1 300 >/dev/null 2>"$TMP/sink.err" &
        sink=$!
        for ((i = 0; i < 50; i++)); do grep -qs listening "$TMP/sink.err" && break; sleep 0.1; done
        args+=("$ROOT/scripts/examples/ctflow9.lua" "127.0.0.1:$(awk '/listening/ {print $2}' "$TMP/sink.err")")
    fi
    valgrind --tool=callgrind --callgrind-out-file="$TMP/out" "$1/nurs-lua" -l warn ${NURS_FLAGS:-} "${args[@]}" \
        >/dev/null 2>"$TMP/vg.err"
    [ -z "$sink" ] || { kill "$sink" 2>/dev/null; wait "$sink" 2>/dev/null || true; }
    grep -E '^summary:' "$TMP/out" | awk '{print $2}'
}

printf '%-10s' case
for b in "${BUILDS[@]}"; do printf ' %28s' "$(basename "$b")"; done
echo "   (instructions per record)"
for c in $CASES; do
    printf '%-10s' "$c"
    for b in "${BUILDS[@]}"; do
        small=$(instructions "$b" "$c" "$TMP/small.pcap")
        large=$(instructions "$b" "$c" "$TMP/large.pcap")
        printf ' %28s' "$(((large - small) / (LARGE - SMALL)))"
    done
    echo
done
