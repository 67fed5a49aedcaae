#!/bin/bash
# A disk that fills and frees under every file sink: the JSON sink, a pcap
# file, an IPFIX file and --record write into a 1 MiB tmpfs (in a private
# mount namespace) while connections come and go; the disk is filled up,
# more connections come (their records are lost, counted), the disk is
# freed, more come. Every file must then be readable to its end by its
# third-party reader (jq, tcpdump, tshark for IPFIX and the netlink
# recording), with the records of after the disk freed at the end: a write
# cut short never leaves a torn record that later ones follow.
if [ -z "${NURS_IN_MOUNT_NS:-}" ]; then
    exec env NURS_IN_MOUNT_NS=1 unshare -m --propagation private bash "$0" "$@"
fi
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
ns_setup
DISK="$TMP/disk"
mkdir "$DISK"
mount -t tmpfs -o size=1m,mode=0755 nurs-disk-full "$DISK"
# Lazily: the daemon may still hold a file when cleanup runs.
trap 'umount -l "$DISK" 2>/dev/null; cleanup' EXIT
nsx nft -f - <<'NFT'
table inet nurs_log {
    chain out { type filter hook output priority 10; th dport 20000-20400 log group 5; }
}
NFT

cat >"$TMP/sinks.lua" <<'LUA'
local nurs = require "nurs"
local dir = arg[1]
local json = nurs.json { path = dir .. "/ct.json", flush = 0.05, buffer = 2048 }
local ipfix = nurs.ipfix { collector = "file://" .. dir .. "/ct.ipfix", flush = 0.05,
  message_size = 1024,
  templates = {
    ipv4 = { "sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort",
             "destinationTransportPort", "protocolIdentifier", "octetDeltaCount",
             "packetDeltaCount", "flowStartMilliseconds", "flowEndMilliseconds" },
    ipv6 = { "sourceIPv6Address", "destinationIPv6Address", "sourceTransportPort",
             "destinationTransportPort", "protocolIdentifier", "octetDeltaCount",
             "packetDeltaCount", "flowStartMilliseconds", "flowEndMilliseconds" } } }
local pcap = nurs.pcap { path = dir .. "/pkts.pcap", flush = 0.05 }
nurs.conntrack({ events = { "new", "destroy" } }, function(rec)
  json:write(rec)
  ipfix:export(rec)
end)
nurs.nflog({ group = 5 }, function(rec) pcap:write(rec) end)
LUA

start_nurs_log "$TMP/nurs.log" --record "$DISK/rec.pcap" "$TMP/sinks.lua" "$DISK"
wait_grep "$TMP/nurs.log" "listening for NFLOG group 5" 10 || fail "no start"
traffic() {
    nsx timeout 60 python3 "$ROOT/tests/kernel/lib/traffic.py" --base-port "$1" --tcp "$2" --udp "$2" \
        >/dev/null || fail "traffic failed"
    nsx conntrack -F 2>/dev/null || true
    sleep 1.2 # every sink flushed (the recording every second)
}
traffic 20000 10
# Fill the disk to the last block, then more connections: lost.
dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null || true
df -k "$DISK" | tail -1
traffic 20100 40
traffic 20200 40
rm -f "$DISK/filler"
traffic 20300 10
kill -USR1 "$NURS_PID"; sleep 0.3
stop_pid "$NURS_PID"
ls -l "$DISK"

# The disk did fill under each of them.
json_lost=$(counter "$TMP/nurs.log" json file_lost || true)
pcap_lost=$(counter "$TMP/nurs.log" pcap file_lost || true)
ipfix_lost=$(counter "$TMP/nurs.log" ipfix dropped || true)
echo "lost while the disk was full: json $json_lost, pcap $pcap_lost, ipfix $ipfix_lost records"
[ "${json_lost:-0}" -gt 0 ] || fail "the JSON sink lost nothing: the disk never filled?"
[ "${pcap_lost:-0}" -gt 0 ] || fail "the pcap sink lost nothing: the disk never filled?"
[ "${ipfix_lost:-0}" -gt 0 ] || fail "the IPFIX file lost nothing: the disk never filled?"
grep -q "recording to $DISK/rec.pcap: No space left on device" "$TMP/nurs.log" ||
    fail "the recording never met the full disk"
grep -q "cannot write $DISK/pkts.pcap: No space left on device" "$TMP/nurs.log" ||
    fail "the pcap error does not say why"

# jq: every line parses, and the last connections (ports 20300...) are there.
jq -e . "$DISK/ct.json" >/dev/null 2>"$TMP/jq.err" || { cat "$TMP/jq.err"; fail "jq cannot read ct.json to its end"; }
jq -r '.orig.dport' "$DISK/ct.json" | grep -qx 203[0-9][0-9] || fail "ct.json lacks the records written once the disk freed"
# tcpdump: no truncated record, the last packets there.
tcpdump -nn -r "$DISK/pkts.pcap" >"$TMP/pkts.txt" 2>"$TMP/tcpdump.err" || { cat "$TMP/tcpdump.err"; fail "tcpdump failed"; }
! grep -qi "truncated\|cut short\|invalid" "$TMP/tcpdump.err" || { cat "$TMP/tcpdump.err"; fail "tcpdump: torn pcap"; }
grep -q '\.203[0-9][0-9]: ' "$TMP/pkts.txt" || fail "pkts.pcap lacks the packets written once the disk freed"
# tshark, the IPFIX file (RFC 5655) and the netlink recording.
for f in ct.ipfix rec.pcap; do
    timeout 60 tshark -r "$DISK/$f" -T fields -e frame.number >"$TMP/$f.frames" 2>"$TMP/$f.err" ||
        { cat "$TMP/$f.err"; fail "tshark cannot read $f"; }
    ! grep -qi "cut short\|damaged\|corrupt" "$TMP/$f.err" || { cat "$TMP/$f.err"; fail "tshark: $f is torn"; }
    bad=$(timeout 60 tshark -r "$DISK/$f" -Y '_ws.malformed' -T fields -e frame.number 2>/dev/null | wc -l)
    [ "$bad" -eq 0 ] || fail "tshark: $bad malformed frames in $f"
done
timeout 60 tshark -r "$DISK/ct.ipfix" -T fields -e cflow.srcport 2>/dev/null | tr ',' '\n' | grep -qx 203[0-9][0-9] ||
    timeout 60 tshark -r "$DISK/ct.ipfix" -T fields -e cflow.dstport 2>/dev/null | tr ',' '\n' | grep -qx 203[0-9][0-9] ||
    fail "ct.ipfix lacks the flows written once the disk freed"
echo "ok: disk-full (json $(wc -l <"$DISK/ct.json") lines, pcap $(wc -l <"$TMP/pkts.txt") packets," \
    "ipfix $(wc -l <"$TMP/ct.ipfix.frames") messages, recording $(wc -l <"$TMP/rec.pcap.frames") frames, all whole)"
