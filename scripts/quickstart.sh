#!/bin/sh
# Installs the Debian packages, builds nurs-lua into build/, and runs the
# example: conntrack events of this host as JSON lines on stdout (Ctrl-C
# stops it). Run as root (conntrack events need CAP_NET_ADMIN).
# Extra arguments go to the script: a path instead of stdout, an event.
set -eu
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
if [ "$(sysctl -n net.netfilter.nf_conntrack_acct 2>/dev/null || echo 0)" != 1 ]; then
    echo "note: packet/byte counters need: sysctl -w net.netfilter.nf_conntrack_acct=1" >&2
fi
exec build/nurs-lua scripts/examples/ct-json.lua "$@"
