/* Flows as protobuf FlowMessages (schema/nurs_flow.proto, wire-compatible
 * with GoFlow2's), encoded with protobuf-c: pure functions, no I/O. */
#ifndef NURS_SINKS_KAFKA_FLOWPB_H
#define NURS_SINKS_KAFKA_FLOWPB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sinks/flow/flow.h"

struct ProtobufCMessageDescriptor;

/* What a record says beyond its flow. */
struct nurs_flowpb_meta {
    uint64_t time_received_ns;
    uint32_t sequence_num;
    uint32_t domain;   /* observation_domain_id */
    uint16_t zone;     /* conntrack zone */
    bool length_prefix; /* a varint of the message's length first (GoFlow2 -format=bin) */
    const uint8_t *sampler_address; /* 4 or 16 bytes, or NULL */
    size_t sampler_address_len;
};

/* Encodes f (rev: the reply direction, for one biflow message; else NULL)
 * into buf. Returns the encoded length; or, when cap is too small, a
 * length above cap (nothing written): retry with that much room. */
size_t nurs_flowpb_encode(const struct nurs_flow *f, const struct nurs_flow *rev,
                          const struct nurs_flowpb_meta *meta, uint8_t *buf, size_t cap);

/* The FlowMessage descriptor, for messages built field by field (from
 * Lua tables): see nurs_flowpb_values_*. */
const struct ProtobufCMessageDescriptor *nurs_flowpb_descriptor(void);

/* A FlowMessage assembled from named values, for records that are not
 * conntrack flows. Strings and bytes are borrowed until encoded. */
struct nurs_flowpb_values;
struct nurs_flowpb_values *nurs_flowpb_values_new(void);
void nurs_flowpb_values_free(struct nurs_flowpb_values *v);
void nurs_flowpb_values_clear(struct nurs_flowpb_values *v);
enum nurs_flowpb_kind {
    NURS_FLOWPB_UNKNOWN, /* no such field */
    NURS_FLOWPB_UINT,
    NURS_FLOWPB_BOOL,
    NURS_FLOWPB_STRING,
    NURS_FLOWPB_BYTES,   /* addresses: 4 or 16 bytes */
    NURS_FLOWPB_ENUM,    /* type */
};
/* The kind of the field named so (as in the .proto). */
enum nurs_flowpb_kind nurs_flowpb_field_kind(const char *name);
/* Sets a field; false if the name is unknown or the kind does not match
 * (or the value does not fit: uint32 fields take at most 2^32 - 1). */
bool nurs_flowpb_values_set_uint(struct nurs_flowpb_values *v, const char *name, uint64_t x);
bool nurs_flowpb_values_set_bytes(struct nurs_flowpb_values *v, const char *name,
                                  const void *p, size_t len);
/* The fields a packet says (addresses, protocol, ports, ICMP, TOS, TTL,
 * TCP flags, flow label, fragment; bytes its IP length, packets 1);
 * addresses are borrowed from the packet. */
struct nurs_pkt;
void nurs_flowpb_values_from_pkt(struct nurs_flowpb_values *v, const struct nurs_pkt *p);
size_t nurs_flowpb_values_encode(const struct nurs_flowpb_values *v, bool length_prefix,
                                 uint8_t *buf, size_t cap);

#endif
