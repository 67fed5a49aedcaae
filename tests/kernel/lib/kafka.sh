# Helpers for the Kafka sink's tests (source after lib/common.sh and
# lib/flow.sh): librdkafka's mock cluster on the test namespace's loopback
# (tools/kafka-mock), commands to it, and kcat reading it back.
KAFKA_MOCK=${KAFKA_MOCK:-$(dirname "$NURS")/tools/kafka-mock}
[ -x "$KAFKA_MOCK" ] || KAFKA_MOCK=$ROOT/build/tools/kafka-mock

# kafka_start TOPIC...: the cluster, one broker, those topics (one
# partition each); sets KAFKA (its bootstrap address) and KAFKA_PORT. Its
# connections are untracked: they make no conntrack entries of their own.
kafka_start() {
    local t args=()
    # librdkafka resolves with AI_ADDRCONFIG, which sees no IPv4 in a
    # namespace with 127.0.0.1 alone: give loopback another (TEST-NET-1).
    nsx ip addr add 192.0.2.1/32 dev lo
    for t in "$@"; do args+=(-t "$t"); done
    mkfifo "$TMP/kafka.in"
    ip netns exec "$NS" "$KAFKA_MOCK" "${args[@]}" <"$TMP/kafka.in" >"$TMP/kafka.out" \
        2>"$TMP/kafka.err" &
    KAFKA_PID=$!
    PIDS+=("$KAFKA_PID")
    exec 8>"$TMP/kafka.in"
    wait_lines "$TMP/kafka.out" 1 10 || fail "kafka-mock did not start: $(cat "$TMP/kafka.err")"
    KAFKA=$(head -1 "$TMP/kafka.out")
    KAFKA_PORT=${KAFKA##*:}
    collector_notrack "tcp dport $KAFKA_PORT" "tcp sport $KAFKA_PORT"
}

# kafka_cmd down|up: every broker refuses connections, or takes them again.
kafka_cmd() {
    local before
    before=$(grep -c '^ok$' "$TMP/kafka.out" || true)
    echo "$1" >&8
    wait_grep_count "$TMP/kafka.out" '^ok$' $((before + 1)) 10 || fail "kafka-mock: no answer to $1"
}

# Waits (at most $4 s) until file $1 has $3 lines matching $2.
wait_grep_count() {
    local i
    for ((i = 0; i < $4 * 10; i++)); do
        [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
        sleep 0.1
    done
    return 1
}

# kafka_consume TOPIC OUT FORMAT: every message of TOPIC so far, printed
# by kcat with FORMAT (-f), into OUT.
kafka_consume() {
    nsx timeout 60 kcat -C -b "$KAFKA" -t "$1" -o beginning -e -q -f "$3" >"$2" 2>"$2.err" ||
        fail "kcat could not read $1: $(head -5 "$2.err")"
}

# Messages in TOPIC now.
kafka_count() {
    kafka_consume "$1" "$TMP/count.$1" '%o\n'
    wc -l <"$TMP/count.$1"
}
