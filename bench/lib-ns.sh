# For the live benchmarks (source it): a private network namespace $NS with
# loopback up and a temp dir $TMP, both removed at exit with every process
# listed in PIDS (KEEP_TMP=1 keeps the dir).
#   bench_netns NAME
bench_netns() {
    NS=nurs-$1$$
    TMP=$(mktemp -d "/tmp/nurs-$1.XXXXXX")
    PIDS=()
    trap bench_cleanup EXIT
    ip netns add "$NS"
    ip -n "$NS" link set lo up
}

bench_cleanup() {
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    sleep 0.5
    ip netns del "$NS" 2>/dev/null || true
    [ -n "${KEEP_TMP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}

nsx() { ip netns exec "$NS" "$@"; }

# CPU time of process $1 so far, in clock ticks (user + system).
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Waits until files stop growing (bounded, 2 minutes): sizes unchanged over
# two checks 1.5 s apart, longer than nurs-lua's 1 s flush interval.
#   wait_still FILE...
wait_still() {
    local prev="" now same=0 i f
    for ((i = 0; i < 80 && same < 2; i++)); do
        sleep 1.5
        now=""
        for f in "$@"; do now="$now $(stat -c %s "$f" 2>/dev/null || echo 0)"; done
        if [ "$now" = "$prev" ]; then same=$((same + 1)); else same=0; fi
        prev=$now
    done
}
