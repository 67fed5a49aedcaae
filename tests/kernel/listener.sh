#!/bin/bash
# The pcap stream's listeners have an owner. Over TCP on loopback, a
# reader's uid comes from sock_diag: `nobody` is refused while root reads
# a valid capture, `allow_uids` lets nobody in; one uid gets at most
# `max_per_uid` of the slots; a reader that never reads is evicted after
# `reader_timeout`. On a unix socket (mode and group set), the peer's
# credentials decide, `allow_gids` included.
. "$(dirname "$0")/lib/common.sh"
ns_setup
chmod 711 "$TMP"
FIXTURE="$ROOT/tests/c/fixtures/nflog.pcap"
cat >"$TMP/stream.lua" <<'LUA'
local nurs = require "nurs"
local opts = load("return " .. (arg[2] or "{}"))()
opts.path = arg[1]
local out = nurs.pcap(opts)
nurs.replay({ path = arg[3], speed = tonumber(arg[4]), loops = 1000000, at_end = "continue" },
  function(rec) out:write(rec) end)
LUA
nsbg() { ip netns exec "$NS" "$@" & BG=$!; PIDS+=("$BG"); }
as_nobody() { nsx setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
packets() { timeout 30 tcpdump -r "$1" -nn 2>/dev/null | wc -l; }
restart() { # restart TARGET OPTS SPEED
    [ -n "${NURS_PID:-}" ] && stop_nurs
    : >"$TMP/nurs.log"
    start_nurs "$TMP/out.txt" "$TMP/stream.lua" "$1" "$2" "$FIXTURE" "$3"
    wait_log "listening for readers" 10
    sleep 0.3
}

# ---- TCP: nobody refused, root reads ----
restart tcp://127.0.0.1:19100 "{}" 1
as_nobody timeout 3 socat -u TCP:127.0.0.1:19100 - >"$TMP/nobody.pcap" 2>/dev/null || true
[ ! -s "$TMP/nobody.pcap" ] || fail "nobody read $(stat -c %s "$TMP/nobody.pcap") bytes"
wait_log "refused reader 127.0.0.1:[0-9]* (uid 65534): uid 65534 is not allowed"
nsx timeout 3 socat -u TCP:127.0.0.1:19100 - >"$TMP/root.pcap" 2>/dev/null || true
n=$(packets "$TMP/root.pcap")
[ "$n" -gt 0 ] || fail "root read no packet"
echo "tcp: nobody refused, root read $n packets"

# ---- allow_uids ----
restart tcp://127.0.0.1:19100 "{ allow_uids = { 65534 } }" 1
as_nobody timeout 3 socat -u TCP:127.0.0.1:19100 - >"$TMP/nobody.pcap" 2>/dev/null || true
n=$(packets "$TMP/nobody.pcap")
[ "$n" -gt 0 ] || fail "allow_uids = {65534}: nobody read nothing"
echo "tcp: with allow_uids, nobody read $n packets"

# ---- slots per uid ----
restart tcp://127.0.0.1:19100 "{ max_per_uid = 2 }" 1
for i in 1 2 3; do nsbg timeout 4 socat -u TCP:127.0.0.1:19100 - >"$TMP/slot$i.pcap" 2>/dev/null; sleep 0.3; done
wait_log "uid 0 has 2 readers already (max_per_uid)"
sleep 4
filled=0; for i in 1 2 3; do [ "$(packets "$TMP/slot$i.pcap")" -gt 0 ] && filled=$((filled + 1)); done
[ "$filled" -eq 2 ] || fail "$filled of 3 readers of one uid got packets, wanted 2"
echo "tcp: a third reader of one uid refused (max_per_uid = 2)"

# ---- a reader that never reads is evicted ----
nsx sysctl -qw net.ipv4.tcp_wmem="4096 16384 65536" net.ipv4.tcp_rmem="4096 16384 65536"
restart tcp://127.0.0.1:19100 "{ reader_timeout = 1, buffer = 65536 }" 0
nsbg timeout 20 python3 -c '
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", 19100)); time.sleep(15)'
wait_log "evicted: read nothing for 1 s" 10
echo "tcp: a reader that never read was evicted"

# ---- unix socket: mode, group, credentials ----
mkdir -m 755 "$TMP/run"
restart "unix://$TMP/run/pcap.sock" "{ mode = \"0660\", group = 65534 }" 1
[ "$(stat -c '%a %g' "$TMP/run/pcap.sock")" = "660 65534" ] || fail "socket mode/group: $(stat -c '%a %g' "$TMP/run/pcap.sock")"
as_nobody timeout 3 socat -u "UNIX-CONNECT:$TMP/run/pcap.sock" - >"$TMP/unix-nobody.pcap" 2>/dev/null || true
[ ! -s "$TMP/unix-nobody.pcap" ] || fail "nobody read from the unix socket"
wait_log "refused reader pid [0-9]* uid 65534: uid 65534 is not allowed"
restart "unix://$TMP/run/pcap.sock" "{ mode = \"0660\", group = 65534, allow_gids = { 65534 } }" 1
as_nobody timeout 3 socat -u "UNIX-CONNECT:$TMP/run/pcap.sock" - >"$TMP/unix-nobody.pcap" 2>/dev/null || true
n=$(packets "$TMP/unix-nobody.pcap")
[ "$n" -gt 0 ] || fail "allow_gids = {65534}: nobody read nothing from the unix socket"
stop_nurs
[ ! -e "$TMP/run/pcap.sock" ] || fail "the socket file was left behind"
echo "unix: mode 0660 group 65534; nobody refused, then let in by allow_gids ($n packets)"
echo "ok: listener"
