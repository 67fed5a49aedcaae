# Helpers for the flow exporter tests (source after lib/common.sh): collectors
# and captures inside the test's namespace, NAT rules on loopback, counters
# from nurs-lua's log. Every helper is bounded in time.

FLOWCHECK="$ROOT/tests/kernel/lib/flowcheck.py"

# Conntrack events per connection the example scripts listen to: DESTROY
# only when the namespace has conntrack timestamps, NEW too without.
events_per_entry() {
    [ "$(nsx cat /proc/sys/net/netfilter/nf_conntrack_timestamp)" = 1 ] && echo 1 || echo 2
}
TRAFFIC="$ROOT/tests/kernel/lib/traffic.py"

now_ms() { date +%s%3N; }

# Waits (at most $3 s) until file $1 matches the grep pattern $2.
wait_grep() {
    local file=$1 pattern=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -q -- "$pattern" "$file" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "timeout waiting for '$pattern' in $file" >&2
    return 1
}

# The collector's own packets must not become conntrack entries (they
# would be exported in turn): untracked at raw priority, both hooks.
# collector_notrack "udp dport 2055" "tcp dport 4739" "tcp sport 4739" ...
collector_notrack() {
    local rules="" r
    for r in "$@"; do rules="$rules $r notrack;"; done
    nsx nft -f - <<NFT
table inet nurs_collector {
    chain out { type filter hook output priority raw; $rules }
    chain pre { type filter hook prerouting priority raw; $rules }
}
NFT
}

# NAT on loopback, one rule per kind, for the flows NAT_FLOWS lists
# (traffic.py --flow): IPv4 DNAT of TCP, IPv4 SNAT (address and port) of
# UDP, IPv6 DNAT of UDP, IPv6 SNAT of TCP.
NAT_FLOWS=(--flow tcp,127.0.0.10,30080,127.0.0.20,30081
           --flow udp,127.0.0.30,30082,127.0.0.30,30082
           --flow udp,fd00::10,30083,fd00::20,30084
           --flow tcp,fd00::30,30085,fd00::30,30085)
NAT_ENTRIES=4
nat_setup() {
    local a
    for a in fd00::10 fd00::20 fd00::30 fd00::40; do
        nsx ip -6 addr add "$a/128" dev lo nodad
    done
    nsx nft -f - <<'NFT'
table ip nurs_nat {
    chain out { type nat hook output priority -100;
        ip daddr 127.0.0.10 tcp dport 30080 dnat to 127.0.0.20:30081; }
    chain post { type nat hook postrouting priority 100;
        ip daddr 127.0.0.30 udp dport 30082 snat to 127.0.0.40:41000; }
}
table ip6 nurs_nat {
    chain out { type nat hook output priority -100;
        ip6 daddr fd00::10 udp dport 30083 dnat to [fd00::20]:30084; }
    chain post { type nat hook postrouting priority 100;
        ip6 daddr fd00::30 tcp dport 30085 snat to fd00::40; }
}
NFT
}

# The known traffic of the flow tests (TCP, UDP and ICMP over IPv4 and
# IPv6, NATed flows), then `conntrack -L` into $TMP/table.xml, then a flush
# that ends every entry. Sets N_ENTRIES, and the windows of the traffic
# (T0 T1) and of the flush (F0 F1), in ms.
known_traffic_then_flush() {
    T0=$(now_ms)
    nsx timeout 30 python3 "$TRAFFIC" --tcp 2 --udp 2 --icmp 3 "${NAT_FLOWS[@]}" >"$TMP/traffic.json" ||
        fail "traffic failed"
    T1=$(now_ms)
    nsx conntrack -L -o xml,ktimestamp,id >"$TMP/table.xml" 2>/dev/null
    N_ENTRIES=$(xml_entries "$TMP/table.xml")
    [ "$N_ENTRIES" -eq $((2 * 2 * 2 + 2 + NAT_ENTRIES)) ] || fail "conntrack lists $N_ENTRIES entries"
    F0=$(now_ms)
    nsx conntrack -F 2>/dev/null
    F1=$(now_ms)
}

# nurs-lua running SCRIPT ARGS (log $TMP/nurs.log) through the known
# traffic and its flush, stopped once every event is in. Sets n, the
# connections made.
export_known_traffic() {
    start_nurs_log "$TMP/nurs.log" "$@"
    wait_log "listening"
    known_traffic_then_flush
    n=$N_ENTRIES
    wait_counter "$NURS_PID" "$TMP/nurs.log" conntrack in $(($(events_per_entry) * n))
    stop_pid "$NURS_PID"
}

# nft counters `orig` and `reply` of the TCP connection to port $1.
conn_counters() {
    nsx nft -f - <<NFT
table inet nurs_count {
    counter orig {}
    counter reply {}
    chain out { type filter hook output priority 0;
        tcp dport $1 counter name orig; tcp sport $1 counter name reply; }
}
NFT
}

# nfcapd in the namespace, writing into directory $1, on 127.0.0.1:$2.
start_nfcapd() {
    mkdir -p "$1"
    ip netns exec "$NS" nfcapd -w "$1" -b 127.0.0.1 -p "$2" -t 3600 >"$1.log" 2>&1 &
    NFCAPD_PID=$!
    PIDS+=("$NFCAPD_PID")
    wait_grep "$1.log" "Startup nfcapd" 10 || fail "nfcapd did not start: $(cat "$1.log")"
}

# SIGTERM makes nfcapd write out and rename its file.
stop_nfcapd() {
    kill -TERM "$NFCAPD_PID"
    timeout 10 tail -s 0.05 --pid="$NFCAPD_PID" -f /dev/null || fail "nfcapd did not stop"
}

# tcpdump on the namespace's loopback into $1 with filter $2 (at most
# 20000 packets, so a runaway exporter cannot fill the disk), with a 32 MiB
# buffer for the bursts of sendmmsg.
start_capture() {
    local file=$1; shift
    ip netns exec "$NS" tcpdump -i lo -n -U --immediate-mode -B 32768 -c 20000 -s 0 -w "$file" "$@" 2>"$file.log" &
    TCPDUMP_PID=$!
    PIDS+=("$TCPDUMP_PID")
    wait_grep "$file.log" "listening on" 10 || fail "tcpdump did not start: $(cat "$file.log")"
}

stop_capture() {
    sleep 0.2 # the last datagrams reach the capture buffer
    kill -INT "$TCPDUMP_PID"
    timeout 10 tail -s 0.05 --pid="$TCPDUMP_PID" -f /dev/null || fail "tcpdump did not stop"
}

# nurs-lua in the namespace with its stderr in log $1; sets NURS_PID.
start_nurs_log() {
    local log=$1; shift
    ip netns exec "$NS" "${NURS_AS[@]}" "$NURS" "$@" >>"$log.stdout" 2>>"$log" &
    NURS_PID=$!
    PIDS+=("$NURS_PID")
}

# Stops nurs-lua $1 with SIGTERM; it must exit 0 within 10 s.
stop_pid() {
    kill -TERM "$1"
    timeout 10 tail -s 0.05 --pid="$1" -f /dev/null || fail "process $1 did not exit on SIGTERM"
    wait "$1" || fail "process $1 exited with $? on SIGTERM"
}

# counter LOG RESOURCE KEY: KEY from the last "counters RESOURCE:" line.
counter() {
    grep "counters $2:" "$1" | tail -1 | grep -o " $3=[0-9]*" | cut -d= -f2
}

# Asks nurs-lua $1 (log $2) for its counters until RESOURCE's KEY reaches
# MIN (at most 10 s): the events of a flush have all been taken in.
wait_counter() {
    local pid=$1 log=$2 res=$3 key=$4 min=$5 i v
    for ((i = 0; i < 50; i++)); do
        kill -USR1 "$pid"
        sleep 0.2
        v=$(counter "$log" "$res" "$key")
        [ -n "$v" ] && [ "$v" -ge "$min" ] && return 0
    done
    fail "$res $key stayed at ${v:-nothing}, wanted $min"
}

# Entries in a `conntrack -L -o xml` file.
xml_entries() { grep -o '<flow>' "$1" | wc -l; }

# The load of the reload tests: $1 IPv4 and $2 IPv6 connections (UDP to
# ports from 10000 and 30000) over 3 s while the table is flushed every
# quarter second, so flows are exported all along. Returns at once;
# reload_load_wait waits for it and ends what is left with a last flush.
reload_load_start() {
    nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" "$1" 3 10000 127.0.0.1 >/dev/null &
    LOAD_V4=$!
    nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" "$2" 3 30000 ::1 >/dev/null &
    LOAD_V6=$!
    (for ((i = 0; i < 16; i++)); do sleep 0.25; nsx conntrack -F 2>/dev/null; done) &
    LOAD_FLUSHER=$!
    PIDS+=("$LOAD_V4" "$LOAD_V6" "$LOAD_FLUSHER")
}

reload_load_wait() {
    wait "$LOAD_V4" || fail "IPv4 traffic failed"
    wait "$LOAD_V6" || fail "IPv6 traffic failed"
    wait "$LOAD_FLUSHER"
    nsx conntrack -F 2>/dev/null
}
