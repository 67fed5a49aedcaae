#!/bin/bash
# Benchmark (not a test): process attribution under a churn of short-lived
# processes, in a private namespace, both ways side by side in the same run:
# BPF (the programs see each socket's owner in its connect()) and sock_diag
# with /proc (found after the fact). Each run forks N processes one after
# the other, each making one TCP connection on loopback, keeping it LINGER
# ms and exiting (bench/churn.py), optionally beside BACKGROUND idle
# processes holding 20 sockets each; nurs-lua attributes every connection
# (bench/churn.lua) and the results are compared with what each process
# said of itself. Runs at RATE forks a second, as fast as python can fork,
# and last a fork storm: as fast as it can, 0 ms linger, with both cores
# kept busy by two spinning processes (the daemon gets what is left).
# Prints per run and path:
#   forks/s     the churn rate reached
#   found       client ends whose socket was found (sock_diag: the rest had
#               closed; BPF: seen by the programs)
#   attributed  of those, the share named with the right pid (target: 100%)
#   at_destroy  share of all connections whose DESTROY record names the client
#   p50/p99_ms  time from the NEW event to the answer
#   cpu_us      nurs-lua CPU (loop and /proc worker) per connection, less a
#               run without attribution measured the same way
#   bpf_us      CPU of the BPF programs per connection (spent in the
#               connecting processes; kernel.bpf_stats_enabled, turned on for
#               the run and restored). They run for every socket of the
#               machine: other traffic on a shared host adds to it
#   fd_dirs     /proc fd directories read per connection
#   bench/process-churn.sh [N [RATE]]   (PATHS="bpf sockdiag", LINGERS, BACKGROUNDS)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
N=${1:-500}
RATE=${2:-100}
NS=nurs-churn$$
TMP=$(mktemp -d /tmp/nurs-churn.XXXXXX)
STATS_BEFORE=$(cat /proc/sys/kernel/bpf_stats_enabled)
HOGS=()
finish() {
    for h in "${HOGS[@]:-}"; do [ -n "$h" ] && kill "$h" 2>/dev/null; done
    echo "$STATS_BEFORE" >/proc/sys/kernel/bpf_stats_enabled
    ip netns del "$NS" 2>/dev/null
    [ -n "${KEEP:-}" ] || rm -rf "$TMP"
}
trap finish EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" nft -f - <<'NFT'
table inet churn {
    chain out { type filter hook output priority 0; ct state new counter; }
}
NFT

# The run time of the BPF programs a daemon logged (ns, all programs).
bpf_ns() {
    local ids sum=0 id t
    ids=$(sed -n 's/.*BPF objects: programs\([0-9 ]*\);.*/\1/p' "$TMP/nurs.log" | tail -1)
    for id in $ids; do
        t=$(bpftool -j prog show id "$id" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin).get("run_time_ns", 0))' || echo 0)
        sum=$((sum + t))
    done
    echo "$sum"
}

# run LINGER BACKGROUND RATE off|bpf|sockdiag -> "cpu_ticks fd_dirs bpf_ns"; results in
# $TMP/out.json, $TMP/flows.json
run() {
    rm -f "$TMP/out.json"
    ip netns exec "$NS" "$BUILD/nurs-lua" "$ROOT/bench/churn.lua" "$TMP/out.json" "$4" \
        >/dev/null 2>"$TMP/nurs.log" &
    local pid=$!
    sleep 0.5
    ip netns exec "$NS" timeout 600 python3 "$ROOT/bench/churn.py" "$N" "$1" "$2" "$3" "$TMP/flows.json"
    ip netns exec "$NS" conntrack -F 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c destroy_pid "$TMP/out.json" 2>/dev/null || true)" -ge "$N" ] && break
        sleep 0.1
    done
    local ticks bpf
    ticks=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
    bpf=$(bpf_ns)
    kill -USR1 "$pid"
    sleep 0.2
    kill -TERM "$pid"
    wait "$pid" || true
    echo "$ticks $(grep -o 'process_fd_dirs=[0-9]*' "$TMP/nurs.log" | tail -1 | cut -d= -f2) $bpf"
}

report() { # report PATH LINGER BACKGROUND OFF_TICKS ON_TICKS FD_DIRS BPF_NS
    python3 - "$TMP/flows.json" "$TMP/out.json" "$@" "$hz" "$N" <<'PY'
import json, sys
flows_doc = json.load(open(sys.argv[1]))
flows = {int(k): v for k, v in flows_doc["flows"].items()}
answers, destroys = {}, {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    if "destroy_pid" in r:
        destroys[r["sport"]] = r["destroy_pid"]
    elif r["sport"] in flows:
        answers[r["sport"]] = r
path, linger, bg, off, on, fd_dirs, bpf_ns, hz, n = sys.argv[3:12]
found = [a for a in answers.values() if a["why"] in ("attributed", "gone")]
right = [a for a in found if a.get("pid") == flows[a["sport"]]]
named = [s for s, p in flows.items() if destroys.get(s) == p]
ms = sorted(a["ms"] for a in answers.values())
pct = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))] if ms else float("nan")
cpu_us = (int(on) - int(off)) / int(hz) * 1e6 / len(flows)
print("%-9s %-9s %-10s %8.0f %7.1f%% %10.1f%% %10.1f%% %8.2f %8.2f %8.1f %8.2f %8.2f" % (
    path, linger, bg, flows_doc["rate"], 100 * len(found) / len(flows), 100 * len(right) / max(1, len(found)),
    100 * len(named) / len(flows), pct(0.5), pct(0.99), cpu_us, int(bpf_ns or 0) / 1000 / len(flows),
    int(fd_dirs or 0) / len(flows)))
PY
}

# One configuration: the reference without attribution, then each path.
config() { # config LINGER BACKGROUND RATE
    local off_ticks on_ticks fd_dirs bpf path
    read -r off_ticks _ _ < <(run "$1" "$2" "$3" off)
    for path in ${PATHS:-bpf sockdiag}; do
        echo 0 >/proc/sys/kernel/bpf_stats_enabled
        [ "$path" = bpf ] && echo 1 >/proc/sys/kernel/bpf_stats_enabled
        read -r on_ticks fd_dirs bpf < <(run "$1" "$2" "$3" "$path")
        report "$path" "$1" "$2" "$off_ticks" "$on_ticks" "${fd_dirs:-0}" "${bpf:-0}"
    done
    echo "$STATS_BEFORE" >/proc/sys/kernel/bpf_stats_enabled
}

echo "$N connections per run, each from its own short-lived process; $(nproc) cores; $(uname -r)"
printf '%-9s %-9s %-10s %8s %8s %11s %11s %8s %8s %8s %8s %8s\n' path linger_ms background forks/s \
    found attributed at_destroy p50_ms p99_ms cpu_us bpf_us fd_dirs
hz=$(getconf CLK_TCK)
for rate in $RATE 0; do
    for background in ${BACKGROUNDS:-0 200}; do
        for linger in ${LINGERS:-0 5 50}; do
            config "$linger" "$background" "$rate"
        done
    done
done
echo "fork storm: as fast as python forks, 0 ms linger, both cores kept busy by two spinners"
for _ in 1 2; do
    timeout 900 python3 -c 'while True: pass' &
    HOGS+=($!)
done
config 0 0 0
