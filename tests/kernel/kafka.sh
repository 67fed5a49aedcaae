#!/bin/bash
# scripts/examples/ct-kafka.lua to librdkafka's mock cluster in a private
# namespace, on known traffic (TCP, UDP and ICMP over IPv4 and IPv6, some
# of it NATed), read back with kcat and checked against `conntrack -L`:
#  (a) json: every message is the connection's DESTROY record as conntrack
#      counted it (ct_compare.py), valid against `nurs-lua --schema json`;
#  (b) proto (GoFlow2's length-prefixed FlowMessage): protoc --decode with
#      the .proto `nurs-lua --schema proto` prints shows every direction's
#      flow with conntrack's addresses, ports, protocol, ICMP type/code,
#      post-NAT fields, counters, start, end, end reason and id; messages
#      numbered 1.. without a gap, keyed by conntrack id;
#  (c) proto biflow: one message per connection, the reply in reverse_*;
#  (d) one callback writes each record to the JSON sink and to the Kafka
#      sink: the file's lines and the messages are the same bytes.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/flow.sh"
. "$(dirname "$0")/lib/kafka.sh"
ns_setup
kafka_start t-json t-proto t-biflow t-same
nat_setup
"$NURS" --schema json >"$TMP/schema.json"
"$NURS" --schema proto >"$TMP/nurs_flow.proto"

EX=$ROOT/scripts/examples/ct-kafka.lua
declare -A LOG=([json]="$TMP/json.log" [proto]="$TMP/proto.log" [biflow]="$TMP/biflow.log"
                [same]="$TMP/same.log")
declare -A PID
start_nurs_log "${LOG[json]}" "$EX" "$KAFKA" t-json json;            PID[json]=$NURS_PID
start_nurs_log "${LOG[proto]}" "$EX" "$KAFKA" t-proto proto;         PID[proto]=$NURS_PID
start_nurs_log "${LOG[biflow]}" "$EX" "$KAFKA" t-biflow proto biflow; PID[biflow]=$NURS_PID
start_nurs_log "${LOG[same]}" "$ROOT/tests/kernel/lib/kafka_same_bytes.lua" "$KAFKA" t-same \
    "$TMP/same.json";                                              PID[same]=$NURS_PID
for k in "${!LOG[@]}"; do wait_grep "${LOG[$k]}" "listening" 10 || fail "$k: no start"; done

known_traffic_then_flush
n=$N_ENTRIES
for k in json proto biflow; do
    wait_counter "${PID[$k]}" "${LOG[$k]}" conntrack in $(($(events_per_entry) * n))
done
wait_counter "${PID[same]}" "${LOG[same]}" conntrack in "$n"
for k in "${!LOG[@]}"; do stop_pid "${PID[$k]}"; done
for k in "${!LOG[@]}"; do
    [ "$(counter "${LOG[$k]}" kafka dropped)" = 0 ] && [ "$(counter "${LOG[$k]}" kafka errors)" = 0 ] ||
        fail "$k: the sink dropped or failed messages: $(grep 'counters kafka' "${LOG[$k]}" | tail -1)"
    [ "$(counter "${LOG[$k]}" kafka delivered)" = "$(counter "${LOG[$k]}" kafka produced)" ] ||
        fail "$k: not every message was delivered: $(grep 'counters kafka' "${LOG[$k]}" | tail -1)"
done

# (a)
kafka_consume t-json "$TMP/json.jsonl" '%s\n'
python3 "$ROOT/tests/kernel/lib/ct_compare.py" "$TMP/table.xml" "$TMP/json.jsonl" ||
    fail "(a) the JSON messages differ from conntrack -L"
[ "$(wc -l <"$TMP/json.jsonl")" -eq "$n" ] || fail "(a) $(wc -l <"$TMP/json.jsonl") messages for $n connections"
/usr/bin/python3 "$ROOT/tests/kernel/lib/json_schema_check.py" "$TMP/schema.json" "$TMP/json.jsonl" "$n" ||
    fail "(a) messages not valid against the JSON Schema"

# (b), (c)
common=(--table "$TMP/table.xml" --traffic "$TMP/traffic.json" --nat-entries $NAT_ENTRIES
        --start-window "$T0" "$T1" --end-window "$F0" "$F1" --proto "$TMP/nurs_flow.proto")
for k in proto biflow; do
    kafka_consume t-$k "$TMP/$k.bin" '%R%s'
    kafka_consume t-$k "$TMP/$k.keys" '%k\n'
done
python3 "$FLOWCHECK" flows "${common[@]}" --protobuf "$TMP/proto.bin" --keys "$TMP/proto.keys" \
    --records "$(counter "${LOG[proto]}" kafka records)" || fail "(b) the protobuf flows differ"
python3 "$FLOWCHECK" flows "${common[@]}" --protobuf "$TMP/biflow.bin" --keys "$TMP/biflow.keys" \
    --records "$n" --biflow || fail "(c) the biflow records differ"

# (d)
kafka_consume t-same "$TMP/same.kafka" '%s\n'
kafka_consume t-same "$TMP/same.keys" '%k\n'
[ "$(wc -l <"$TMP/same.json")" -eq "$n" ] || fail "(d) the JSON sink wrote $(wc -l <"$TMP/same.json") lines"
cmp "$TMP/same.json" "$TMP/same.kafka" || fail "(d) the JSON sink's lines and the Kafka messages differ"
python3 - "$TMP/same.json" "$TMP/same.keys" <<'PY' || fail "(d) keys are not ORIG.SRC/ID"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
keys = open(sys.argv[2]).read().splitlines()
want = [f"{r['orig']['src']}/{r['id']}" for r in recs]
assert keys == want, (keys[:3], want[:3])
assert all(r["schema_version"] == 1 and list(r)[0] == "schema_version" for r in recs)
PY
/usr/bin/python3 "$ROOT/tests/kernel/lib/json_schema_check.py" "$TMP/schema.json" "$TMP/same.json" "$n" ||
    fail "(d) records with schema_version not valid against the JSON Schema"
echo "ok: kafka ($n connections: json, proto, biflow, same bytes as the JSON sink)"
