#!/bin/bash
# Benchmark (not a test): records/s through nurs-lua for a dump of N
# conntrack entries (default 100000) made in a private namespace, with a
# trivial callback, a 6-field filter, and the JSON sink to /dev/null; the
# reference in the same run is `conntrack -L -o extended` writing the same
# table to /dev/null. Prints a table; ratios are to conntrack -L.
#   bench/ct-dump.sh [N] [ROUNDS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NURS=${NURS:-$ROOT/build/nurs-lua}
N=${1:-100000}
ROUNDS=${2:-3}
NS=nurs-bench$$
trap 'ip netns del $NS 2>/dev/null || true' EXIT
ip netns add $NS
ip -n $NS link set lo up
ip netns exec $NS sysctl -qw net.netfilter.nf_conntrack_acct=1
ip netns exec $NS nft add table inet b
ip netns exec $NS nft add chain inet b o '{ type filter hook output priority 0; ct state new counter; }'
ip netns exec $NS python3 "$ROOT/bench/ct_fill.py" "$N"
have=$(ip netns exec $NS conntrack -C)
echo "entries in the table: $have (asked $N); $(nproc) cores; $(uname -r)"

best() { sort -t= -k2 -g | head -1; }
ref_times=()
for ((r = 0; r < ROUNDS; r++)); do
    s=$(date +%s.%N)
    ip netns exec $NS conntrack -L -o extended >/dev/null 2>&1
    e=$(date +%s.%N)
    ref_times+=("$(echo "$e - $s" | bc -l)")
done
ref=$(printf '%s\n' "${ref_times[@]}" | sort -g | head -1)
printf '%-28s %12s %10s %12s %14s %7s\n' case records/s wall_s cpu_s/M_rec peak_rss_MiB x_ref
printf '%-28s %12.0f %10.3f %12s %14s %7.2f\n' "conntrack -L (reference)" "$(echo "$have / $ref" | bc -l)" "$ref" - - 1.00
for mode in count fields json; do
    line=""
    for ((r = 0; r < ROUNDS; r++)); do
        l=$("$NURS" -l warn "$ROOT/bench/ct_dump_bench.lua" $NS $mode /dev/null)
        w=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"$l")
        if [ -z "$line" ] || (( $(echo "$w < $(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"$line")" | bc -l) )); then line=$l; fi
    done
    get() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$line"; }
    printf '%-28s %12.0f %10.3f %12.2f %14.1f %7.2f\n' "nurs-lua: $mode" "$(get rate)" "$(get wall_s)" \
        "$(get cpu_per_M)" "$(echo "$(get peak_rss_kib) / 1024" | bc -l)" "$(echo "$ref / $(get wall_s)" | bc -l)"
    [ "$(get records)" -ge "$have" ] || echo "  warning: $mode saw $(get records) of $have records"
done
