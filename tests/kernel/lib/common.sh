# Shared helpers for the kernel tests: a private network namespace per
# test, bounded waits, and cleanup on any exit. Source it from a test.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
NURS=${NURS:-$ROOT/build/nurs-lua}
TMP=$(mktemp -d /tmp/nurs-ktest.XXXXXX)
NS=nurs-t$$
PIDS=()

cleanup() {
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && kill "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]:-}"; do
        [ -n "$p" ] && timeout 5 tail -s 0.05 --pid="$p" -f /dev/null 2>/dev/null || true
    done
    ip netns del "$NS" 2>/dev/null || true
    if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# A namespace with loopback up, conntrack accounting and timestamps on.
ns_setup() {
    modprobe nf_conntrack_netlink 2>/dev/null || true
    ip netns add "$NS"
    ip -n "$NS" link set lo up
    nsx sysctl -qw net.netfilter.nf_conntrack_acct=1 || true
    nsx sysctl -qw net.netfilter.nf_conntrack_timestamp=1 || true
    # Entries are only tracked once a conntrack-using rule exists.
    nsx nft -f - <<'NFT'
table inet nurs_test {
    chain out { type filter hook output priority 0; ct state new counter; }
    chain in { type filter hook input priority 0; ct state new counter; }
}
NFT
    [ "$(nsx cat /proc/sys/net/netfilter/nf_conntrack_acct)" = 1 ] ||
        fail "cannot enable conntrack accounting in the namespace"
}

nsx() { ip netns exec "$NS" "$@"; }

# NURS_AS_USER=nurs-lua: the daemon runs as that user with only the
# capabilities the systemd unit grants it (its AmbientCapabilities=) and
# no new privileges, as the service does; the test's files are the user's.
NURS_AS=()
run_as_service_user() { # run_as_service_user USER
    local caps
    getent passwd "$1" >/dev/null || fail "NURS_AS_USER=$1: no such user"
    caps=$(sed -n 's/^AmbientCapabilities=//p' "$ROOT/dist/nurs-lua.service.in" | tr ' ' '\n' |
        sed -n 's/^CAP_\(.*\)/+\L\1/p' | paste -sd,)
    [ -n "$caps" ] || fail "no AmbientCapabilities= in dist/nurs-lua.service.in"
    NURS_AS=(setpriv --reuid="$1" --regid="$(id -g "$1")" --init-groups --no-new-privs
        --inh-caps=-all,"$caps" --ambient-caps=-all,"$caps" --bounding-set=-all,"$caps" --)
    NURS_AS_USER=$1
    chown "$1" "$TMP"
}
[ -z "${NURS_AS_USER:-}" ] || run_as_service_user "$NURS_AS_USER"

# Starts nurs-lua inside the namespace; its stdout goes to $1.
start_nurs() {
    local out=$1; shift
    ip netns exec "$NS" "${NURS_AS[@]}" "$NURS" "$@" >"$out" 2>>"$TMP/nurs.log" &
    NURS_PID=$!
    PIDS+=("$NURS_PID")
}

# A stand-in for systemd's notification socket at address $1 (abstract
# names belong to the test's namespace) writing what it hears to $2, for at
# most $3 seconds; returns once it listens.
start_notify_listener() {
    local i
    nsx python3 "$ROOT/tests/kernel/lib/notify_listen.py" "$1" "$2" "$3" &
    PIDS+=($!)
    for ((i = 0; i < 100; i++)); do [ -e "$2" ] && return 0; sleep 0.05; done
    fail "the notification listener did not start"
}

# Waits (at most $3 seconds) until file $1 has at least $2 lines.
wait_lines() {
    local file=$1 want=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(wc -l <"$file" 2>/dev/null || echo 0)" -ge "$want" ] && return 0
        sleep 0.1
    done
    echo "timeout: $file has $(wc -l <"$file") lines, wanted $want" >&2
    return 1
}

# Waits until the daemon logged $1 (a grep pattern) in its stderr.
wait_log() {
    local pattern=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -q -- "$pattern" "$TMP/nurs.log" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timeout waiting for log '$pattern'" >&2
    cat "$TMP/nurs.log" >&2
    return 1
}

stop_nurs() {
    if [ -n "${NURS_AS_USER:-}" ]; then # it did run as the service would
        [ "$(stat -c %U "/proc/$NURS_PID")" = "$NURS_AS_USER" ] ||
            fail "nurs-lua runs as $(stat -c %U "/proc/$NURS_PID"), not $NURS_AS_USER"
        # The bounding set is the unit's: exactly those are in effect.
        [ "$(awk '/^CapEff/ {e = $2} /^CapBnd/ {b = $2} END {print (e == b)}' "/proc/$NURS_PID/status")" = 1 ] ||
            fail "nurs-lua's capabilities are not the unit's: $(grep Cap "/proc/$NURS_PID/status")"
    fi
    kill -TERM "$NURS_PID"
    timeout 10 tail -s 0.05 --pid="$NURS_PID" -f /dev/null || fail "nurs-lua did not exit on SIGTERM"
    wait "$NURS_PID" || fail "nurs-lua exited with $? on SIGTERM"
}
