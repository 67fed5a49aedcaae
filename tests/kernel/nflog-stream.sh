#!/bin/bash
# pcap streamed while traffic flows, through the example script
# scripts/examples/nflog-pcap.lua:
#  - to a FIFO: the daemon starts without a reader (and says it waits),
#    then tcpdump -r on the FIFO reads exactly the packets tcpdump captured
#    on loopback, in order, bytes intact;
#  - over TCP to three readers at once: tshark (-i TCP@...) and socat read
#    all of it while a third reader never reads;
#  - with small per-reader buffers, a reader that never reads loses
#    packets, counted, while the kernel source loses none and the daemon
#    stays responsive.
. "$(dirname "$0")/lib/common.sh"
ns_setup
nsx ip link set lo mtu 1500 # see nflog-pcap.sh: the hook's packets are the wire's
# A stalled reader must not hide in big socket buffers.
nsx sysctl -qw net.ipv4.tcp_wmem="4096 16384 65536" net.ipv4.tcp_rmem="4096 16384 65536"
nsx nft -f - <<'NFT'
table inet nurs_log {
    chain out {
        type filter hook output priority 10;
        meta l4proto { icmp, ipv6-icmp } log group 9
        th dport 20001-20010 log group 9
        th sport 20001-20010 log group 9
    }
}
NFT
EXAMPLE="$ROOT/scripts/examples/nflog-pcap.lua"
# In the background, in the namespace; $BG is the process itself (not a
# subshell), so that cleanup's kill reaches it at once.
nsbg() { ip netns exec "$NS" "$@" & BG=$!; PIDS+=("$BG"); }
td() { timeout 60 tcpdump -r "$1" -nn -S -t -x 2>/dev/null | head -c 64M; }
# The packets of a tcpdump text dump, one line each, sorted: the kernel may
# log a packet made in another context (an ACK sent from a softirq) before
# or after the capture sees it, so only the set of packets is compared.
packets() { awk '/^[^[:space:]]/ { if (p != "") print p; p = $0; next } { p = p " " $0 } END { if (p != "") print p }' "$1" | sort; }
same_packets() { diff -q <(packets "$1") <(packets "$2") >/dev/null; }

# A reference capture of the test traffic, then the traffic (on one CPU:
# see nflog-pcap.sh).
start_truth() {
    nsbg tcpdump -i lo --immediate-mode -U -B 65536 -s 65600 \
        -w "$TMP/truth-$1.pcap" icmp or icmp6 or portrange 20001-20010 2>"$TMP/tcpdump-$1.err"
    TD=$BG
    for ((i = 0; i < 50; i++)); do grep -q listening "$TMP/tcpdump-$1.err" && break; sleep 0.1; done
}
traffic() {
    nsx taskset -c 0 timeout 60 python3 "$ROOT/tests/kernel/lib/pkt_traffic.py" "$@" >/dev/null ||
        fail "traffic generator failed"
}
stop_truth() {
    sleep 0.5
    kill -TERM "$TD"; timeout 10 tail -s 0.05 --pid="$TD" -f /dev/null || fail "tcpdump did not stop"
    grep -q "^0 packets dropped by kernel" "$TMP/tcpdump-$1.err" || fail "reference capture incomplete"
    td "$TMP/truth-$1.pcap" >"$TMP/truth-$1.txt"
}

# ---- FIFO ----
mkfifo "$TMP/ids.pcap"
start_nurs "$TMP/out-fifo.txt" "$EXAMPLE" 9 "$TMP/ids.pcap"
wait_log "waiting for a reader on FIFO"
wait_log "listening for NFLOG group 9"
timeout 60 tcpdump -r "$TMP/ids.pcap" -nn -S -t -x >"$TMP/fifo.txt" 2>"$TMP/fifo.err" &
READER=$!; PIDS+=("$READER")
wait_log "pcap: reader $TMP/ids.pcap connected"
start_truth fifo
traffic --tcp-bytes 100000
stop_truth fifo
stop_nurs # closing the FIFO ends the reader's file
timeout 10 tail -s 0.05 --pid="$READER" -f /dev/null || fail "tcpdump did not see the end of the FIFO"
n=$(grep -c '^[^[:space:]]' "$TMP/truth-fifo.txt")
[ "$n" -ge 40 ] || fail "only $n packets captured"
same_packets "$TMP/truth-fifo.txt" "$TMP/fifo.txt" ||
    { diff <(packets "$TMP/truth-fifo.txt") <(packets "$TMP/fifo.txt") | head; fail "the FIFO reader saw other packets"; }
echo "fifo: tcpdump -r read the $n packets while they flowed"

# ---- TCP, three readers, one of them never reading ----
stalled_reader() {
    nsbg timeout 30 python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", 19000)); time.sleep(20)'
}
wait_readers() {
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'pcap: reader .* connected' "$TMP/nurs.log")" -ge "$1" ] && return; sleep 0.1
    done
    fail "$1 readers did not connect"
}
: >"$TMP/nurs.log"
start_nurs "$TMP/out-tcp.txt" "$EXAMPLE" 9 tcp://127.0.0.1:19000
wait_log "listening for NFLOG group 9"
nsbg timeout 60 tshark -i TCP@127.0.0.1:19000 -w "$TMP/tshark.pcapng" >/dev/null 2>"$TMP/tshark.err"
nsbg timeout 60 socat -u TCP:127.0.0.1:19000 "CREATE:$TMP/socat.pcap" 2>"$TMP/socat.err"
SOCAT=$BG
stalled_reader
wait_readers 3
start_truth tcp
traffic --tcp-bytes 400000
stop_truth tcp
stop_nurs
timeout 10 tail -s 0.05 --pid="$SOCAT" -f /dev/null || fail "socat did not see the end of the stream"
n=$(grep -c '^[^[:space:]]' "$TMP/truth-tcp.txt")
for ((i = 0; i < 50; i++)); do # tshark writes its file once the stream ends
    [ "$(td "$TMP/tshark.pcapng" | grep -c '^[^[:space:]]')" -ge "$n" ] && break; sleep 0.1
done
for f in socat.pcap tshark.pcapng; do
    td "$TMP/$f" >"$TMP/$f.txt"
    same_packets "$TMP/truth-tcp.txt" "$TMP/$f.txt" ||
        { diff <(packets "$TMP/truth-tcp.txt") <(packets "$TMP/$f.txt") | head; fail "the $f reader saw other packets"; }
done
echo "tcp: socat and tshark read the $n packets while a third reader idled"

# ---- a reader that never reads, small buffers ----
: >"$TMP/nurs.log"
start_nurs "$TMP/out-slow.txt" "$EXAMPLE" 9 tcp://127.0.0.1:19000 buffer=65536
wait_log "listening for NFLOG group 9"
stalled_reader
wait_readers 1
traffic --tcp-bytes 400000
sleep 0.5
kill -USR1 "$NURS_PID"
wait_log "counters pcap:"
stop_nurs
counters=$(grep 'counters pcap:' "$TMP/nurs.log" | tail -1)
drops=$(grep -o 'reader_drops=[0-9]*' <<<"$counters" | cut -d= -f2)
[ "${drops:-0}" -gt 0 ] || fail "the stalled reader lost nothing? $counters"
grep -q "counters nflog: .*overruns=0 .*lost=0" "$TMP/nurs.log" || fail "NFLOG lost packets"
echo "slow reader: $drops packets dropped for it and counted; no NFLOG loss"
echo "ok: nflog-stream"
