#!/bin/bash
# The kernel tests of each kind of source (conntrack, NFLOG, NFQUEUE) with
# the daemon as the service runs it: as NURS_AS_USER (nurs-lua) with only
# the unit's capabilities. Run by roundtrip.sh while the package is
# installed (it sets NURS and NURS_AS_USER); prints PASS/FAIL per test.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
: "${NURS:?}" "${NURS_AS_USER:?}"
rc=0
for t in ct-json nflog-pcap nfqueue; do
    log=$(mktemp /tmp/nurs-as-user.XXXXXX)
    if timeout 300 bash "$ROOT/tests/kernel/$t.sh" >"$log" 2>&1; then
        echo "PASS as $NURS_AS_USER: $t.sh"
    else
        echo "FAIL as $NURS_AS_USER: $t.sh"
        tail -30 "$log"
        rc=1
    fi
    rm -f "$log"
done
exit $rc
