#!/bin/bash
# NFLOG to pcap, checked by tcpdump and tshark: known UDP, TCP and ICMP
# traffic over IPv4 and IPv6 on loopback in a private namespace, logged by
# an nft `log group` rule at the output hook, while tcpdump captures the
# same loopback independently. Then:
#  - the raw pcap holds exactly the captured packets, bytes intact, in order;
#  - the NFLOG-link-type pcap holds them too, each with the rule's prefix;
#  - size rotation made several valid files that together hold them all;
#  - the ring dump is the last run of packets up to the trigger;
#  - a copy range of 60 gives 60-byte captures of full-length packets;
#  - the source's recording (record=), replayed, gives the same packets;
#  - the records' fields agree with tshark's decoding, packet by packet.
. "$(dirname "$0")/lib/common.sh"
ns_setup
# With loopback's 64 KiB MTU, TCP hands the output hook segments that leave
# split differently (and some over 64 KiB, IP length 0, cut by NFLOG at
# 65531 bytes): an Ethernet MTU keeps the hook's packets and the wire's the
# same, so that they can be compared byte for byte.
nsx ip link set lo mtu 1500
nsx nft -f - <<'NFT'
table inet nurs_log {
    chain out {
        type filter hook output priority 10;
        log prefix "nurs-test: " group 7
        udp dport { 20001, 20003 } log group 8
    }
}
NFT
# A large buffer (-B, KiB) and snap length near lo's MTU: no drop in a burst
# of 64 KiB segments. Started directly (not in a function) so that $! is
# tcpdump itself.
ip netns exec "$NS" tcpdump -i lo --immediate-mode -U -B 65536 -s 65600 -w "$TMP/truth.pcap" \
    2>"$TMP/tcpdump.err" &
TD=$!; PIDS+=("$TD")
for ((i = 0; i < 50; i++)); do grep -q listening "$TMP/tcpdump.err" && break; sleep 0.1; done
start_nurs "$TMP/out.txt" "$ROOT/tests/kernel/lib/nflog_pcap.lua" "$TMP" 20999
wait_log "listening for NFLOG group 8"
# On one CPU: tcpdump on lo sees packets as they are received, which is the
# order they were sent (and logged) only when one CPU's backlog carries them.
nsx taskset -c 0 timeout 60 python3 "$ROOT/tests/kernel/lib/pkt_traffic.py" --tcp-bytes 400000 \
    --trigger 20999 >/dev/null || fail "traffic generator failed"
wait_log "ring dump"
sleep 1
kill -TERM "$TD"; timeout 10 tail -s 0.05 --pid="$TD" -f /dev/null || fail "tcpdump did not stop"
stop_nurs
grep -q "^0 packets dropped by kernel" "$TMP/tcpdump.err" ||
    fail "the reference capture is incomplete: $(cat "$TMP/tcpdump.err")"
grep -q "counters nflog: .*overruns=0 .*lost=0" "$TMP/nurs.log" || fail "NFLOG lost packets"

td() { timeout 60 tcpdump -r "$1" -nn -S -t -x 2>"$TMP/td.err" | head -c 64M; }
td "$TMP/truth.pcap" >"$TMP/truth.txt"
n=$(grep -c '^[^[:space:]]' "$TMP/truth.txt")
[ "$n" -ge 40 ] || fail "tcpdump captured only $n packets"

# Raw IP: the same packets, byte for byte, in the same order.
td "$TMP/raw.pcap" >"$TMP/raw.txt"
diff -q "$TMP/truth.txt" "$TMP/raw.txt" >/dev/null ||
    { diff "$TMP/truth.txt" "$TMP/raw.txt" | head -20; fail "raw pcap differs from the capture"; }
echo "raw: $n packets identical to tcpdump's capture"

# NFLOG link type: tshark decodes the prefix on every packet.
timeout 60 tshark -r "$TMP/nflog.pcap" -T fields -e nflog.prefix -e ip.src -e ipv6.src \
    2>/dev/null | head -c 64M >"$TMP/nflog.tsv"
[ "$(wc -l <"$TMP/nflog.tsv")" -eq "$n" ] || fail "NFLOG pcap has $(wc -l <"$TMP/nflog.tsv") packets, want $n"
[ "$(cut -f1 "$TMP/nflog.tsv" | grep -cx 'nurs-test: ')" -eq "$n" ] || fail "a packet lost its prefix"
td "$TMP/nflog.pcap" >/dev/null
grep -q 'truncated\|bogus' "$TMP/td.err" && fail "tcpdump finds the NFLOG pcap damaged: $(cat "$TMP/td.err")"
echo "nflog: $n packets, every one with prefix 'nurs-test: '"

# Rotation: rot.pcap, rot.pcap1, ... each valid, together the whole capture.
files=("$TMP/rot.pcap")
for ((i = 1; i < 1000; i++)); do [ -e "$TMP/rot.pcap$i" ] || break; files+=("$TMP/rot.pcap$i"); done
[ "${#files[@]}" -ge 3 ] || fail "rotation made ${#files[@]} files"
: >"$TMP/rot.txt"
for f in "${files[@]}"; do
    td "$f" >>"$TMP/rot.txt" || fail "tcpdump cannot read $f"
    grep -q 'truncated' "$TMP/td.err" && fail "$f is truncated"
done
diff -q "$TMP/truth.txt" "$TMP/rot.txt" >/dev/null || fail "the rotated files do not hold the capture"
echo "rotation: ${#files[@]} files, together identical to the capture"

# Ring: the last packets up to the trigger, a valid pcap.
td "$TMP/ring.pcap" >"$TMP/ring.txt"
python3 "$ROOT/tests/kernel/lib/pkt_compare.py" slice "$TMP/truth.txt" "$TMP/ring.txt"

# Copy range 60: every captured length 60 (or the whole packet), wire length kept.
timeout 60 tshark -r "$TMP/snap.pcap" -T fields -e frame.cap_len -e frame.len -e ip.len \
    -e ipv6.plen 2>/dev/null | head -c 1M >"$TMP/snap.tsv"
[ "$(wc -l <"$TMP/snap.tsv")" -eq 10 ] || fail "copy-range pcap has $(wc -l <"$TMP/snap.tsv") packets, want 10"
awk -F'\t' '$1 != 60 || $2 != ($3 != "" ? $3 : $4 + 40) { bad = 1 } END { exit bad }' "$TMP/snap.tsv" ||
    fail "copy range: $(head -3 "$TMP/snap.tsv")"
echo "copy range: 10 packets of 60 bytes captured, full lengths kept"

# The recording replayed: the same packets again.
cat >"$TMP/replay.lua" <<LUA
local nurs = require "nurs"
local out = nurs.pcap { path = "$TMP/replayed.pcap" }
nurs.replay({ path = "$TMP/recorded.pcap" }, function(rec) out:write(rec) end)
LUA
timeout 60 "$NURS" "$TMP/replay.lua" 2>>"$TMP/nurs.log" || fail "replay failed"
td "$TMP/replayed.pcap" >"$TMP/replayed.txt"
diff -q "$TMP/truth.txt" "$TMP/replayed.txt" >/dev/null || fail "the replayed recording differs"
echo "record and replay: the $n packets again"

# Fields of the records against tshark's decoding of the capture.
# shellcheck disable=SC2046
timeout 60 tshark -r "$TMP/truth.pcap" -T fields -E occurrence=f \
    $(python3 "$ROOT/tests/kernel/lib/pkt_compare.py" fields) 2>/dev/null | head -c 64M >"$TMP/truth.tsv"
python3 "$ROOT/tests/kernel/lib/pkt_compare.py" views "$TMP/records.json" "$TMP/truth.tsv"
echo "ok: nflog-pcap"
