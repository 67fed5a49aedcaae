#!/bin/sh
# Installs the Debian packages, builds nurs-lua into build/, and runs the main
# job: scripts/examples/ctflow9.lua, this host's connections as NetFlow v9
# to a local collector (nfcapd on 127.0.0.1:2055, files in $FLOWS, default
# /var/tmp/nurs-flows). Ctrl-C stops both and shows what the collector got.
# Run as root: conntrack events need CAP_NET_ADMIN. It turns conntrack
# accounting and timestamps on, and, while it runs, keeps an nft table
# (nurs_quickstart) that makes the kernel track connections (all but the
# export's own datagrams to the local collector).
# Extra arguments go to the script: another collector, a mark filter.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

modprobe nf_conntrack_netlink 2>/dev/null || true
sysctl -qw net.netfilter.nf_conntrack_acct=1 net.netfilter.nf_conntrack_timestamp=1 ||
    echo "note: could not turn on conntrack accounting and timestamps" >&2
nft -f - <<'NFT'
table inet nurs_quickstart {
    chain raw { type filter hook output priority raw; ip daddr 127.0.0.1 udp dport 2055 notrack; }
    chain out { type filter hook output priority 0; ct state new counter; }
    chain in { type filter hook input priority 0; ct state new counter; }
}
NFT

FLOWS=${FLOWS:-/var/tmp/nurs-flows}
mkdir -p "$FLOWS"
collector_pid=
if [ $# -eq 0 ]; then
    nfcapd -w "$FLOWS" -b 127.0.0.1 -p 2055 -t 60 >"$FLOWS/nfcapd.log" 2>&1 &
    collector_pid=$!
fi
finish() {
    nft delete table inet nurs_quickstart 2>/dev/null || true
    if [ -n "$collector_pid" ]; then
        kill -TERM "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null || true
        echo "--- what nfcapd collected ($FLOWS):"
        nfdump -R "$FLOWS" -o "fmt:%ts %td %pr %sap -> %dap %pkt %byt" 2>/dev/null | tail -25 || true
    fi
}
trap finish EXIT
trap 'exit 0' INT TERM
echo "exporting this host's connections to ${1:-nfcapd on 127.0.0.1:2055}; Ctrl-C stops" >&2
build/nurs-lua scripts/examples/ctflow9.lua "$@" || true
