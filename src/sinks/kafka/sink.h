/* The Kafka sink: records to one topic, as JSON (the JSON sink's bytes)
 * or as protobuf flow records (schema/nurs_flow.proto, GoFlow2's
 * FlowMessage), keyed by a record field or template. A resource: a
 * reloaded script that declares the same brokers, topic and librdkafka
 * settings adopts the producer (nothing in flight is lost) and its format
 * settings apply when the reload succeeds. */
#ifndef NURS_SINKS_KAFKA_SINK_H
#define NURS_SINKS_KAFKA_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/jsonw.h"
#include "core/resource.h"
#include "netlink/ct_msg.h"
#include "sinks/kafka/flowpb.h"
#include "sinks/kafka/key.h"
#include "sinks/kafka/producer.h"

struct nurs_script;
struct nurs_kafka_sink;

enum nurs_kafka_format { NURS_KAFKA_JSON, NURS_KAFKA_PROTO };

/* What a reload may change without a new producer. */
struct nurs_kafka_settings {
    enum nurs_kafka_format format;
    bool biflow;         /* proto: one message per connection, else one per direction */
    bool length_prefix;  /* proto: a varint length first (GoFlow2 -format=bin) */
    bool schema_version; /* json: "schema_version" first in records */
    struct nurs_kafka_key key; /* key.n == 0: no key */
    uint32_t domain;
    uint8_t sampler_address[16];
    size_t sampler_address_len; /* 0, 4 or 16 */
};

struct nurs_kafka_opts {
    struct nurs_kafka_producer_opts producer;
    struct nurs_kafka_settings settings;
    size_t max_connections; /* live connections remembered for flow start times */
    const char *name;
};

/* The sink with the same producer (brokers, topic, librdkafka settings)
 * that the running script owns, claimed for the loading one; else a new
 * one (in --check mode: checked, with no producer). */
struct nurs_kafka_sink *nurs_kafka_sink_get(struct nurs_script *s, const struct nurs_kafka_opts *o,
                                            char *err, size_t errlen);
struct nurs_resource *nurs_kafka_sink_resource(struct nurs_kafka_sink *k);
struct nurs_kafka_sink *nurs_kafka_sink_of(struct nurs_resource *r);
/* The settings records are written with now. */
const struct nurs_kafka_settings *nurs_kafka_sink_settings(const struct nurs_kafka_sink *k);

/* A conntrack record: its JSON, or its flows (none for NEW events, which
 * only note when the connection started). */
void nurs_kafka_sink_write_ct(struct nurs_kafka_sink *k, struct nurs_ct_msg *m);
/* Other records (format json): write one value into the returned writer,
 * then _end produces it (ok = false: counts it dropped). */
struct nurs_jsonw *nurs_kafka_sink_json_begin(struct nurs_kafka_sink *k);
void nurs_kafka_sink_json_end(struct nurs_kafka_sink *k, bool ok, const char *key,
                              size_t key_len);
/* Other records (format proto): a FlowMessage with the sink's own fields
 * (type, sampling rate, domain, sampler address, time received) set; set
 * more, then _end numbers and produces it. */
struct nurs_flowpb_values *nurs_kafka_sink_values_begin(struct nurs_kafka_sink *k);
void nurs_kafka_sink_values_end(struct nurs_kafka_sink *k, bool ok, const char *key,
                                size_t key_len);

#endif
