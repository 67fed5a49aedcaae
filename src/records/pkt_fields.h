/* The fields of a packet view, named in the conntrack vocabulary where the
 * two coincide (family, proto, protonum, src, dst, sport, dport, type,
 * code, icmp_id), and one walker over them shared by Lua field access,
 * :totable() and the JSON sink. */
#ifndef NURS_RECORDS_PKT_FIELDS_H
#define NURS_RECORDS_PKT_FIELDS_H

#include <stdbool.h>

#include "netlink/packet.h"
#include "records/ct_fields.h"

enum nurs_pkt_field {
    NURS_PKTF_FAMILY,
    NURS_PKTF_PROTO,
    NURS_PKTF_PROTONUM,
    NURS_PKTF_SRC,
    NURS_PKTF_DST,
    NURS_PKTF_SPORT,
    NURS_PKTF_DPORT,
    NURS_PKTF_TYPE,
    NURS_PKTF_CODE,
    NURS_PKTF_ICMP_ID,
    NURS_PKTF_ICMP_SEQ,
    NURS_PKTF_TTL,
    NURS_PKTF_TOS,
    NURS_PKTF_FLOWLABEL,
    NURS_PKTF_IP_LEN,
    NURS_PKTF_IP_ID,
    NURS_PKTF_DF,
    NURS_PKTF_FRAG_OFFSET,
    NURS_PKTF_FRAG_MORE,
    NURS_PKTF_FRAG_ID,
    NURS_PKTF_TCP_FLAGS,
    NURS_PKTF_SEQ,
    NURS_PKTF_ACK,
    NURS_PKTF_WINDOW,
    NURS_PKTF_TCP_HDRLEN,
    NURS_PKTF_UDP_LEN,
    NURS_PKTF_PAYLOAD_OFFSET,
    NURS_PKTF_PAYLOAD_LEN,
    NURS_PKTF_CAPLEN,
    /* Readable, not walked (it repeats tcp_flags). */
    NURS_PKTF_TCP_FLAGS_BITS,
    NURS_PKTF_COUNT
};

/* The fields :totable() and JSON show: those before this one. */
#define NURS_PKTF_WALKED NURS_PKTF_TCP_FLAGS_BITS

extern const char *const nurs_pkt_field_names[NURS_PKTF_COUNT];

/* Emits one field under its name; false (nothing emitted) when absent. */
bool nurs_pkt_emit_field(const struct nurs_pkt *p, enum nurs_pkt_field f,
                         const struct nurs_emit *e, void *ctx);
/* Emits every walked field present, in the order above. */
void nurs_pkt_emit_all(const struct nurs_pkt *p, const struct nurs_emit *e, void *ctx);

#endif
