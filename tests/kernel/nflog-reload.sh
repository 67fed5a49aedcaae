#!/bin/bash
# NFLOG across reloads, under a paced UDP flood logged to group 11:
#  - six SIGHUPs with the same source: the socket is kept, every packet the
#    rule logged reaches a script exactly once (sequence numbers without a
#    gap or repeat), and the pcap sink kept across reloads holds them all
#    (tcpdump counts them);
#  - a reload that moves group 11 into a new source for groups 11 and 12
#    (copy range 64) takes the group over; packets keep arriving, cut at 64;
#  - a reload of that source with copy range 48 keeps it and applies 48;
#    one with 40 that fails to load leaves 48;
#  - a reload that would move the groups but fails to load gives them
#    back: packets keep reaching the old script, with its settings.
. "$(dirname "$0")/lib/common.sh"
ns_setup
nsx nft -f - <<'NFT'
table inet nurs_log {
    chain out {
        type filter hook output priority 10;
        udp dport 30000 counter log group 11
        udp dport 30001 counter log group 12
    }
}
NFT
script() { # script GROUPS COPY_RANGE [BROKEN]
    cat >"$TMP/script.lua" <<LUA
local nurs = require "nurs"
local out = nurs.json { path = "$TMP/records.json", buffer = 1 << 20 }
local pcap = nurs.pcap { path = "$TMP/all.pcap" }
nurs.nflog({ groups = { $1 }, copy_range = $2 }, function(rec)
  out:write { seq = rec.seq_local, group = rec.group, gen = GENERATION, caplen = rec.caplen }
  pcap:write(rec)
end)
GENERATION = nurs.now()
${3:-}
LUA
}
blast() { nsx timeout 30 "$(dirname "$NURS")/tools/udp-blast" -c 1000 -s 100 -r 5000 "$1" >/dev/null; }
script 11 65535
start_nurs "$TMP/stdout" "$TMP/script.lua"
wait_log "listening for NFLOG group 11"
nsx timeout 60 "$(dirname "$NURS")/tools/udp-blast" -c 60000 -s 100 -r 20000 30000 >/dev/null &
GEN=$!; PIDS+=("$GEN")
for i in 1 2 3 4 5 6; do
    sleep 0.4
    kill -HUP "$NURS_PID"
done
wait "$GEN" || fail "udp-blast failed"
sleep 0.5
[ "$(grep -c "reloaded" "$TMP/nurs.log")" -eq 6 ] || fail "expected 6 reloads"

reload() { # reload WHAT_TO_WAIT_FOR
    : >"$TMP/nurs.log"
    kill -HUP "$NURS_PID"
    wait_log "$1"
}
# Group 11 moves into a source for 11 and 12.
script "11, 12" 64
reload "reloaded"
grep -q "NFLOG group 11 taken over" "$TMP/nurs.log" || fail "group 11 not taken over"
blast 30000
blast 30001
# The same source, new settings; then a failing load asking for others.
script "11, 12" 48
reload "reloaded"
blast 30000
script "11, 12" 40 'error("broken on purpose")'
reload "reload of .* failed; the running script goes on"
blast 30000
# A failing load that would move the groups again gives them back.
script "11, 12, 13" 40 'error("broken on purpose")'
reload "reload of .* failed; the running script goes on"
blast 30000
sleep 0.5
stop_nurs
grep -q "counters nflog.*overruns=0 .*lost=0" "$TMP/nurs.log" || fail "NFLOG lost packets"

logged11=$(nsx nft list chain inet nurs_log out | grep 'dport 30000' | grep -o 'packets [0-9]*' | cut -d' ' -f2)
logged12=$(nsx nft list chain inet nurs_log out | grep 'dport 30001' | grep -o 'packets [0-9]*' | cut -d' ' -f2)
python3 - "$TMP/records.json" "$logged11" "$logged12" <<'PY'
import json, sys
want = {11: int(sys.argv[2]), 12: int(sys.argv[3])}
seqs, gens, caplens = {11: [], 12: []}, set(), []
for line in open(sys.argv[1]):
    r = json.loads(line)
    seqs[r["group"]].append(r["seq"])
    gens.add(r["gen"])
    if r["group"] == 11:
        caplens.append(r["caplen"])
# 100-byte datagrams: 128 bytes whole; then cut at 64, at 48 (kept through
# a failed reload asking for 40, and after the groups were given back)
runs_of = []
for c in caplens:
    if runs_of and runs_of[-1][0] == c:
        runs_of[-1][1] += 1
    else:
        runs_of.append([c, 1])
if runs_of != [[128, 60000], [64, 1000], [48, 3000]]:
    sys.exit(f"FAIL: copy ranges in force {runs_of}")
# A group bound anew (taken over, given back) starts its numbers at 0:
# each binding's run must be 0, 1, 2... without a gap or a repeat.
runs = {}
for g, s in seqs.items():
    if len(s) != want[g]:
        sys.exit(f"FAIL: group {g}: {len(s)} records, the rule logged {want[g]}")
    run = []
    runs[g] = [run]
    for q in s:
        if run and q == 0:
            run = []
            runs[g].append(run)
        if q != len(run):
            sys.exit(f"FAIL: group {g}: sequence number {q} after {run[-1:]}")
        run.append(q)
if [len(r) for r in runs[11]] != [60000, 3000, 1000] or [len(r) for r in runs[12]] != [1000]:
    sys.exit(f"FAIL: bindings {[len(r) for r in runs[11]]}, {[len(r) for r in runs[12]]}")
print(f"group 11: {want[11]} packets in 3 bindings (kept over 6 reloads, taken over, given"
      f" back), group 12: {want[12]}; each delivered once, in order, across {len(gens)}"
      " script generations; copy ranges 65535, 64, 48 in force as the reloads said")
PY
n=$(timeout 60 tcpdump -r "$TMP/all.pcap" -nn 2>/dev/null | head -c 64M | wc -l)
[ "$n" -eq $((logged11 + logged12)) ] || fail "the kept pcap holds $n packets, want $((logged11 + logged12))"
echo "pcap kept across reloads: $n packets"
echo "ok: nflog-reload"
