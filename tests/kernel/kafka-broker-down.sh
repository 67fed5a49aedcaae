#!/bin/bash
# The broker goes away mid-run and comes back. A script writes every
# conntrack record to a JSON file and, as protobuf flows, to Kafka with a
# queue bounded at Q messages:
#  - broker up: A connections, all published;
#  - broker down (the mock cluster refuses connections): B connections;
#    the JSON file gets every one (the loop goes on), the Kafka queue fills
#    to exactly Q and the other B - Q are dropped and counted, never
#    blocking; the daemon answers SIGUSR1 all along;
#  - broker up again: the Q queued messages are delivered, then C more
#    connections are.
# kcat reads A + Q + C messages: the A and C flows each once, Q of the B
# flows, sequence numbers skipping exactly the B - Q dropped.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
. "$(dirname "$0")/lib/kafka.sh"
ns_setup
A=300
B=3000
C=300
Q=1000
kafka_start t-down
"$NURS" --schema proto >"$TMP/nurs_flow.proto"
start_nurs_log "$TMP/nurs.log" "$ROOT/tests/kernel/lib/kafka_down.lua" "$KAFKA" t-down \
    "$TMP/all.json" $Q
wait_log "listening"

# burst COUNT BASE_PORT: COUNT connections, then a flush ends them.
burst() {
    nsx timeout 30 python3 "$ROOT/tests/kernel/lib/udp_burst.py" "$1" 1 "$2" >/dev/null ||
        fail "traffic failed"
    nsx conntrack -F 2>/dev/null
}

burst $A 10000
wait_counter "$NURS_PID" "$TMP/nurs.log" kafka delivered $A
kafka_cmd down
burst $B 20000
wait_lines "$TMP/all.json" $((A + B)) 20 || fail "the JSON sink stopped while Kafka was down"
wait_counter "$NURS_PID" "$TMP/nurs.log" kafka queue_full $((B - Q))
[ "$(counter "$TMP/nurs.log" kafka in_flight)" -eq $Q ] ||
    fail "queue not at its bound: $(grep 'counters kafka' "$TMP/nurs.log" | tail -1)"
[ "$(counter "$TMP/nurs.log" kafka delivered)" -eq $A ] || fail "delivered while the broker was down?"
kafka_cmd up
wait_counter "$NURS_PID" "$TMP/nurs.log" kafka delivered $((A + Q))
burst $C 30000
wait_counter "$NURS_PID" "$TMP/nurs.log" kafka delivered $((A + Q + C))
stop_pid "$NURS_PID"

[ "$(wc -l <"$TMP/all.json")" -eq $((A + B + C)) ] || fail "the JSON sink wrote $(wc -l <"$TMP/all.json") lines"
line=$(grep 'counters kafka' "$TMP/nurs.log" | tail -1)
[ "$(counter "$TMP/nurs.log" kafka dropped)" -eq $((B - Q)) ] || fail "dropped: $line"
[ "$(counter "$TMP/nurs.log" kafka queue_full)" -eq $((B - Q)) ] || fail "queue_full: $line"
[ "$(counter "$TMP/nurs.log" kafka errors)" -eq 0 ] || fail "failed deliveries: $line"
[ "$(counter "$TMP/nurs.log" kafka delivered)" -eq $((A + Q + C)) ] || fail "delivered: $line"
kafka_consume t-down "$TMP/down.bin" '%R%s'
kafka_consume t-down "$TMP/down.keys" '%k\n'
python3 "$ROOT/tests/kernel/lib/kafka_flows_check.py" "$TMP/nurs_flow.proto" "$TMP/down.bin" \
    "$TMP/down.keys" --dports 10000 $A --dports 30000 $C --some 20000 $B $Q \
    --records $((A + Q + C)) --dropped $((B - Q)) || fail "the messages read back differ"
echo "ok: kafka-broker-down ($A, then $Q of $B queued while down ($((B - Q)) dropped, counted), then $C)"
