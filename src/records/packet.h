/* Packet records (NFLOG, NFQUEUE): a source's metadata fields followed by
 * the packet views of pkt_fields.h, parsed on first use. A packet source
 * describes its part with a struct nurs_packet_meta and declares its
 * class with NURS_PACKET_CLASS. */
#ifndef NURS_RECORDS_PACKET_H
#define NURS_RECORDS_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netlink/packet.h"
#include "records/pkt_fields.h"
#include "records/record.h"

/* Fill it with designated initializers: optional members may be added. */
struct nurs_packet_meta {
    /* The source's own field names; none may be a packet field name. */
    const char *const *names;
    int count;
    /* names[0, walked) appear in :totable() and JSON, in that order;
     * the rest are only readable (numeric twins of other fields...). */
    int walked;
    /* Emits field i of the message under names[i]; false (nothing
     * emitted) when the message does not carry it. */
    bool (*emit)(const void *data, int field, const struct nurs_emit *e, void *ctx);
    /* The captured packet (from the network header on; NULL, 0 when none
     * was copied) and what it is likely to be. */
    void (*payload)(const void *data, const uint8_t **p, size_t *len, enum nurs_pkt_l3 *hint);
    /* Optional: the family to report when the packet is not IP (or none
     * was copied), e.g. "arp" or "ipv4" from the message header; NULL when
     * unknown. */
    const char *(*family)(const void *data);
    /* Optional, for the pcap sink: when the packet was seen, in ns since
     * the epoch (without it, the time the sink wrote it). */
    uint64_t (*timestamp_ns)(const void *data);
    /* Optional, for pcap's LINKTYPE_NFLOG: the message's NFLOG attributes
     * (the netlink TLVs after its nfgenmsg), family and group. Without it
     * the sink writes the packet and its time only. */
    bool (*nflog_attrs)(const void *data, uint8_t *family, uint16_t *group, const void **attrs,
                        size_t *len);
};

/* The view's state: the packet, parsed on first use. */
struct nurs_packet_state {
    bool parsed;
    const uint8_t *data;
    size_t len;
    struct nurs_pkt pkt;
};

/* The packet of the record src reads, parsed on first use. */
const struct nurs_pkt *nurs_packet_view(const struct nurs_packet_meta *m,
                                        const struct nurs_field_src *src);
const char *nurs_packet_field_name(const struct nurs_packet_meta *m, int f);
bool nurs_packet_emit_field(const struct nurs_packet_meta *m, const struct nurs_field_src *src,
                            int f, const struct nurs_emit *e, void *ctx);
void nurs_packet_emit_all(const struct nurs_packet_meta *m, const struct nurs_field_src *src,
                          const struct nurs_emit *e, void *ctx);

/* Fields of a packet class: the source's n_meta, then the packet's. */
#define NURS_PACKET_FIELDS(n_meta) ((n_meta) + NURS_PKTF_COUNT)

/* Declares `const struct nurs_record_class var` for a packet source whose
 * meta has n_meta fields (a constant: the class is). */
#define NURS_PACKET_CLASS(var, what_, meta, n_meta)                                             \
    static const char *var##_name(int f) { return nurs_packet_field_name(meta, f); }           \
    static bool var##_emit_field(const struct nurs_field_src *src, int f,                       \
                                 const struct nurs_emit *e, void *ctx)                          \
    {                                                                                           \
        return nurs_packet_emit_field(meta, src, f, e, ctx);                                    \
    }                                                                                           \
    static void var##_emit_all(const struct nurs_field_src *src, const struct nurs_emit *e,     \
                               void *ctx)                                                       \
    {                                                                                           \
        nurs_packet_emit_all(meta, src, e, ctx);                                                \
    }                                                                                           \
    const struct nurs_record_class var = {                                                      \
        .what = what_,                                                                          \
        .count = NURS_PACKET_FIELDS(n_meta),                                                    \
        .name = var##_name,                                                                     \
        .emit_field = var##_emit_field,                                                         \
        .emit_all = var##_emit_all,                                                             \
        .state_size = sizeof(struct nurs_packet_state),                                         \
        .packet = meta,                                                                         \
    }

#endif
