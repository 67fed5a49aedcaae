#!/bin/bash
# Reload while publishing: bounded traffic makes connections over IPv4 and
# IPv6 while the table is flushed every quarter second (so flows are
# published all along), and ct-kafka.lua gets SIGHUP six times. The new
# script adopts the producer each time: kcat reads every flow exactly once,
# the messages are numbered 1..N without a gap or a repeat (one sequence:
# the sink was never made anew), keyed by conntrack id, and the sink
# counted every message delivered.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
. "$(dirname "$0")/lib/kafka.sh"
ns_setup
V4=4000
V6=1000
kafka_start t-reload
"$NURS" --schema proto >"$TMP/nurs_flow.proto"
start_nurs_log "$TMP/nurs.log" "$ROOT/scripts/examples/ct-kafka.lua" "$KAFKA" t-reload proto
wait_log "listening"

reload_load_start $V4 $V6
for ((i = 0; i < 6; i++)); do
    sleep 0.4
    kill -HUP "$NURS_PID"
done
reload_load_wait
wait_counter "$NURS_PID" "$TMP/nurs.log" kafka delivered $((V4 + V6))
stop_pid "$NURS_PID"

reloads=$(grep -c "reloaded" "$TMP/nurs.log" || true)
[ "$reloads" -eq 6 ] || fail "6 reloads asked, $reloads done: $(grep -i "reload" "$TMP/nurs.log" | tail -3)"
grep -q "receive buffer overrun" "$TMP/nurs.log" && fail "kernel overruns: $(grep "receive buffer overrun" "$TMP/nurs.log" | head -1)"
[ "$(grep -c "producing protobuf flows" "$TMP/nurs.log")" -eq 1 ] ||
    fail "a reload made a new producer: $(grep "producing" "$TMP/nurs.log")"
records=$(counter "$TMP/nurs.log" kafka records)
[ "$records" -eq $((V4 + V6)) ] || fail "the sink made $records records for $((V4 + V6)) connections"
for c in dropped errors in_flight; do
    [ "$(counter "$TMP/nurs.log" kafka $c)" = 0 ] || fail "kafka $c: $(grep 'counters kafka' "$TMP/nurs.log" | tail -1)"
done
[ "$(counter "$TMP/nurs.log" kafka delivered)" -eq "$records" ] || fail "not every message delivered"
kafka_consume t-reload "$TMP/reload.bin" '%R%s'
kafka_consume t-reload "$TMP/reload.keys" '%k\n'
python3 "$ROOT/tests/kernel/lib/kafka_flows_check.py" "$TMP/nurs_flow.proto" "$TMP/reload.bin" \
    "$TMP/reload.keys" --dports 10000 $V4 --dports 30000 $V6 --records "$records" ||
    fail "the messages read back differ"
echo "ok: kafka-reload ($records flows across $reloads reloads, each once)"
