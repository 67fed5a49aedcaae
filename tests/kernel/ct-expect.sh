#!/bin/bash
# Expectations created by a real helper (nf_conntrack_ftp, assigned by an
# nft `ct helper` rule, a PASV exchange on loopback) appear as events
# (nurs.expect) and in listings (ct:expect_list), as conntrack -L expect
# shows them; a script deletes one and creates one, checked the same way.
. "$(dirname "$0")/lib/common.sh"
ns_setup
modprobe nf_conntrack_ftp 2>/dev/null || true
nsx nft -f - <<'NFT'
table inet nurs_ftp {
    ct helper ftp21 { type "ftp" protocol tcp; }
    chain out { type filter hook output priority 0; tcp dport 21 ct helper set "ftp21"; }
}
NFT
FTP="python3 $ROOT/tests/kernel/lib/ftp_pasv.py"
nsx timeout 60 $FTP server 21 &
PIDS+=($!)
cat >"$TMP/expect.lua" <<'LUA'
local nurs = require "nurs"
local events = nurs.json { path = arg[1] }
local listed = nurs.json { path = arg[2] }
nurs.expect({ events = { "new", "destroy" } }, function(rec) events:write(rec) end)
local ct = nurs.ct()
nurs.every(0.1, function()
  ct:expect_list(function(rec) listed:write(rec) end)
end)
LUA
start_nurs "$TMP/stdout" "$TMP/expect.lua" "$TMP/events.json" "$TMP/listed.json"
wait_log "listening for expectation events"

# Session 1: the data connection consumes the expectation.
nsx timeout 20 $FTP client 21 1.5 >"$TMP/port1" &
client1=$!
for ((i = 0; i < 50; i++)); do
    nsx conntrack -L expect 2>/dev/null | grep -q dport && break; sleep 0.1
done
nsx conntrack -L expect 2>/dev/null >"$TMP/ctexpect"
grep -q "dport=" "$TMP/ctexpect" || fail "conntrack -L expect shows nothing"
wait $client1 || fail "FTP session 1"
port1=$(cat "$TMP/port1")
grep -q "dport=$port1 " "$TMP/ctexpect" || fail "conntrack -L expect: $(cat "$TMP/ctexpect"), port $port1"

# Session 2: the script deletes the expectation, then creates one on the
# same master (the FTP control connection).
nsx timeout 20 $FTP client 21 3 >"$TMP/port2" &
client2=$!
for ((i = 0; i < 50; i++)); do [ -s "$TMP/port2" ] && break; sleep 0.1; done
port2=$(cat "$TMP/port2")
cat >"$TMP/act.lua" <<LUA
local nurs = require "nurs"
local ct = nurs.ct()
ct:expect_list(function(rec)
  if rec.tuple.dport ~= $port2 then return end
  local master = rec.master
  local m = { src = master.src, dst = master.dst, sport = master.sport, dport = master.dport }
  ct:expect_delete(rec, function(n, err)
    print("deleted", n, err)
    ct:expect_create({ proto = "tcp", master = m,
        tuple = { src = "127.0.0.1", dst = "127.0.0.1", sport = 0, dport = 50123 },
        mask = { src = "255.255.255.255", dst = "255.255.255.255", sport = 0, dport = 65535 },
        timeout = 30 }, function(ok, e) print("created", ok, e) nurs.stop() end)
  end)
end)
LUA
out=$(nsx timeout 10 "$NURS" "$TMP/act.lua" 2>>"$TMP/nurs.log")
[ "$out" = "$(printf 'deleted\t1\tnil\ncreated\ttrue\tnil')" ] || fail "delete and create: $out"
nsx conntrack -L expect 2>/dev/null >"$TMP/ctexpect2"
grep -q "dport=$port2 " "$TMP/ctexpect2" && fail "the deleted expectation is still there: $(cat "$TMP/ctexpect2")"
grep -q "dport=50123 " "$TMP/ctexpect2" || fail "the created expectation is not there: $(cat "$TMP/ctexpect2")"
wait $client2 || true
sleep 0.5
stop_nurs

python3 - "$TMP/events.json" "$TMP/listed.json" "$port1" "$port2" <<'PY' || fail "events and listings"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
ls = [json.loads(l) for l in open(sys.argv[2])]
p1, p2 = int(sys.argv[3]), int(sys.argv[4])
def of(recs, port, event=None):
    return [r for r in recs if r["tuple"].get("dport") == port and (event is None or r["event"] == event)]
for p in (p1, p2):
    # On loopback the helper sees the 227 reply at output and at input:
    # the second expectation replaces the first (a destroy, a new).
    new, gone = of(ev, p, "new"), of(ev, p, "destroy")
    assert new and len(new) == len(gone), f"port {p}: {len(new)} new, {len(gone)} destroy events: {ev}"
    assert {r["id"] for r in new} == {r["id"] for r in gone}, f"port {p}: ids {new} {gone}"
    r = new[0]
    assert r["helper"] == "ftp" and r["proto"] == "tcp" and r["family"] == "ipv4", r
    assert r["master"]["dport"] == 21 and r["master"]["src"] == "127.0.0.1", r
    assert r["tuple"]["dst"] == "127.0.0.1" and r["mask"]["dport"] == 65535, r
    assert r["timeout"] > 0 and r["id"] > 0 and r["flags"] == [], r
l1 = of(ls, p1)
assert l1 and all(r["event"] == "dump" and r["helper"] == "ftp" for r in l1), f"listings of port {p1}: {l1[:2]}"
assert of(ev, 50123, "new"), "no new event for the created expectation"
PY
echo "PASS ct-expect"
