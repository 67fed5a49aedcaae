#!/bin/bash
# nurs-lua --doctor on a namespace with accounting off, timestamps off and
# a small rmem_max (global on this kernel: set here, restored at exit):
# it names all three with the command that fixes each and exits 1; fixed,
# it exits 0. nurs.doctor() reads the same from Lua, and a conntrack source
# logs the problems at start-up.
. "$(dirname "$0")/lib/common.sh"
ns_setup
OLD_RMEM=$(cat /proc/sys/net/core/rmem_max)
trap 'sysctl -qw net.core.rmem_max="$OLD_RMEM"; cleanup' EXIT

nsx sysctl -qw net.netfilter.nf_conntrack_acct=0
nsx sysctl -qw net.netfilter.nf_conntrack_timestamp=0
sysctl -qw net.core.rmem_max=212992
rc=0
"$NURS" --doctor "$NS" >"$TMP/bad" 2>&1 || rc=$?
[ $rc = 1 ] || fail "exit $rc on a bad setup: $(cat "$TMP/bad")"
for want in "WRONG accounting" "fix: ip netns exec $NS sysctl -w net.netfilter.nf_conntrack_acct=1" \
            "WARN  timestamps" "fix: ip netns exec $NS sysctl -w net.netfilter.nf_conntrack_timestamp=1" \
            "rmem_max=212992 is below" "fix: sysctl -w net.core.rmem_max=16777216"; do
    grep -qF -- "$want" "$TMP/bad" || fail "--doctor does not say '$want': $(cat "$TMP/bad")"
done

# The same from Lua, and as warnings when a source opens.
cat >"$TMP/doctor.lua" <<'LUA'
local nurs = require "nurs"
local r = nurs.doctor { netns = arg[1] }
local bad = {}
for _, c in ipairs(r.checks) do if c.severity ~= "ok" then bad[#bad + 1] = c.check end end
print(r.ok, r.acct, r.timestamp, r.rmem_max, table.concat(bad, ","))
nurs.conntrack { events = { "destroy" }, netns = arg[1] }
LUA
out=$("$NURS" "$TMP/doctor.lua" "$NS" 2>"$TMP/start.log" </dev/null & pid=$!; sleep 1; kill -TERM $pid; wait $pid)
echo "$out" | grep -q "^false	0	0	212992	.*accounting.*timestamps.*rmem_max" || fail "nurs.doctor: $out"
grep -q "warn: conntrack: $NS: nf_conntrack_acct=0.*(fix: ip netns exec $NS sysctl" "$TMP/start.log" ||
    fail "no start-up warning: $(cat "$TMP/start.log")"

nsx sysctl -qw net.netfilter.nf_conntrack_acct=1
nsx sysctl -qw net.netfilter.nf_conntrack_timestamp=1
nsx sysctl -qw net.netfilter.nf_conntrack_events=1
sysctl -qw net.core.rmem_max="$OLD_RMEM"
[ "$OLD_RMEM" -ge $((16 << 20)) ] || sysctl -qw net.core.rmem_max=$((16 << 20))
"$NURS" --doctor "$NS" >"$TMP/good" 2>&1 || fail "exit $? on a good setup: $(cat "$TMP/good")"
grep -q "all good" "$TMP/good" || fail "good setup: $(cat "$TMP/good")"
echo "PASS doctor"
