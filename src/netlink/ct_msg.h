/* A conntrack netlink message seen in place: the attribute tables point
 * into the receive buffer, nested attributes are parsed on first use and
 * every value is decoded only when asked for. Nothing here allocates. */
#ifndef NURS_NETLINK_CT_MSG_H
#define NURS_NETLINK_CT_MSG_H

#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

struct nurs_attribution;

enum nurs_ct_event {
    NURS_CT_EVENT_DUMP,    /* an entry listed by a table dump */
    NURS_CT_EVENT_NEW,
    NURS_CT_EVENT_UPDATE,
    NURS_CT_EVENT_DESTROY,
};

enum nurs_ct_dir { NURS_CT_ORIG, NURS_CT_REPLY, NURS_CT_MASTER };

struct nurs_ct_tuple {
    const struct nlattr *ip[CTA_IP_MAX + 1];
    const struct nlattr *proto[CTA_PROTO_MAX + 1];
    const struct nlattr *zone;
};

/* Which nested tables have been parsed (bit set) and which were found
 * malformed (then they read as absent). */
enum nurs_ct_nested {
    NURS_CT_N_TUPLE_ORIG = 1u << 0,
    NURS_CT_N_TUPLE_REPLY = 1u << 1,
    NURS_CT_N_TUPLE_MASTER = 1u << 2,
    NURS_CT_N_COUNTERS_ORIG = 1u << 3,
    NURS_CT_N_COUNTERS_REPLY = 1u << 4,
    NURS_CT_N_PROTOINFO = 1u << 5,
    NURS_CT_N_TIMESTAMP = 1u << 6,
    NURS_CT_N_HELP = 1u << 7,
    NURS_CT_N_SECCTX = 1u << 8,
};

struct nurs_ct_msg {
    const struct nlmsghdr *nlh;
    enum nurs_ct_event event;
    uint8_t family; /* AF_INET or AF_INET6 */
    const struct nlattr *tb[CTA_MAX + 1];

    bool final; /* listed by the dump at exit: its flow ends forcibly */
    /* The process attribution of the source that delivers it, if on
     * (attribution.h); NULL otherwise. */
    const struct nurs_attribution *attr;
    unsigned parsed;
    unsigned malformed;
    const struct nlattr *helper_name;
    const struct nlattr *secctx_name;
    /* Everything above is reset for each message; below, only what
     * `parsed` says was filled in is read. */
    struct nurs_ct_tuple tuple[3];
    const struct nlattr *counters[2][CTA_COUNTERS_MAX + 1];
    const struct nlattr *protoinfo[CTA_PROTOINFO_MAX + 1];
    const struct nlattr *timestamp[CTA_TIMESTAMP_MAX + 1];
};

/* True if nlh is a conntrack entry message (new/update/destroy/dump). */
bool nurs_ct_msg_is_entry(const struct nlmsghdr *nlh);

/* Parses the top level of a conntrack message that nurs_nlmsg_ok() accepted.
 * `from_dump` marks entries listed by a dump rather than events.
 * Returns 0, or -1 with *why set to a static description. */
int nurs_ct_msg_parse(struct nurs_ct_msg *m, const struct nlmsghdr *nlh,
                      bool from_dump, const char **why);

/* Parses conntrack attributes nested in another message (NFLOG's and
 * NFQUEUE's NFULA_CT/NFQA_CT), the nest already validated as one. The
 * message has no event of its own (reads as "dump"); nlh is NULL. */
int nurs_ct_msg_parse_nest(struct nurs_ct_msg *m, const struct nlattr *nest, uint8_t family,
                           const char **why);

/* Accessors: return false when the attribute is absent or malformed. */
bool nurs_ct_u32(const struct nurs_ct_msg *m, int cta, uint32_t *v);
bool nurs_ct_zone(const struct nurs_ct_msg *m, uint16_t *v);
bool nurs_ct_protonum(struct nurs_ct_msg *m, uint8_t *v);
const struct nurs_ct_tuple *nurs_ct_tuple_parse(struct nurs_ct_msg *m, enum nurs_ct_dir dir);
/* Walks a tuple nest (addresses, protocol, zone) that fits its message
 * into t; false (t cleared) if it or a nest inside is malformed.
 * Expectations carry the same tuples. */
bool nurs_ct_tuple_walk(const struct nlattr *nest, struct nurs_ct_tuple *t);
/* The tuple of a direction, NULL if absent or malformed; parsed on first
 * use (accessors ask for it many times per record: the check is inline). */
static inline const struct nurs_ct_tuple *nurs_ct_tuple(struct nurs_ct_msg *m,
                                                        enum nurs_ct_dir dir)
{
    unsigned bit = NURS_CT_N_TUPLE_ORIG << dir;
    if (!(m->parsed & bit))
        return nurs_ct_tuple_parse(m, dir);
    static const int cta[] = {CTA_TUPLE_ORIG, CTA_TUPLE_REPLY, CTA_TUPLE_MASTER};
    return (m->malformed & bit) || !m->tb[cta[dir]] ? NULL : &m->tuple[dir];
}

/* Readers of one parsed tuple, for paths that read many of its fields
 * (the accessors below are these after a tuple lookup). The walk checked
 * each attribute's length against its type, so reads here are in bounds. */
static inline const void *nurs_ct_attr_data(const struct nlattr *a)
{
    return (const char *)a + NLA_HDRLEN;
}
static inline uint16_t nurs_ct_attr_be16(const struct nlattr *a)
{
    uint16_t v;
    memcpy(&v, nurs_ct_attr_data(a), sizeof v);
    return be16toh(v);
}
static inline uint32_t nurs_ct_attr_be32(const struct nlattr *a)
{
    uint32_t v;
    memcpy(&v, nurs_ct_attr_data(a), sizeof v);
    return be32toh(v);
}
static inline uint64_t nurs_ct_attr_be64(const struct nlattr *a)
{
    uint64_t v;
    memcpy(&v, nurs_ct_attr_data(a), sizeof v);
    return be64toh(v);
}
static inline uint8_t nurs_ct_attr_u8(const struct nlattr *a)
{
    return *(const uint8_t *)nurs_ct_attr_data(a);
}
/* Raw address bytes (4 or 16) of the source or destination; 0 if none. */
static inline size_t nurs_ct_tuple_addr(const struct nurs_ct_tuple *t, bool dst,
                                        const void **bytes)
{
    const struct nlattr *a = t->ip[dst ? CTA_IP_V4_DST : CTA_IP_V4_SRC];
    if (a) {
        *bytes = nurs_ct_attr_data(a);
        return 4;
    }
    a = t->ip[dst ? CTA_IP_V6_DST : CTA_IP_V6_SRC];
    if (a && a->nla_len - NLA_HDRLEN == 16) {
        *bytes = nurs_ct_attr_data(a);
        return 16;
    }
    return 0;
}
static inline bool nurs_ct_tuple_port(const struct nurs_ct_tuple *t, bool dst, uint16_t *v)
{
    const struct nlattr *a = t->proto[dst ? CTA_PROTO_DST_PORT : CTA_PROTO_SRC_PORT];
    if (!a)
        return false;
    *v = nurs_ct_attr_be16(a);
    return true;
}
/* ICMP or ICMPv6 type, code and id: false unless all three are there. */
static inline bool nurs_ct_tuple_icmp(const struct nurs_ct_tuple *t, uint8_t *type,
                                      uint8_t *code, uint16_t *id)
{
    const struct nlattr *ty = t->proto[CTA_PROTO_ICMP_TYPE], *co = t->proto[CTA_PROTO_ICMP_CODE],
                        *ident = t->proto[CTA_PROTO_ICMP_ID];
    if (!ty) {
        ty = t->proto[CTA_PROTO_ICMPV6_TYPE];
        co = t->proto[CTA_PROTO_ICMPV6_CODE];
        ident = t->proto[CTA_PROTO_ICMPV6_ID];
    }
    if (!ty || !co || !ident)
        return false;
    *type = nurs_ct_attr_u8(ty);
    *code = nurs_ct_attr_u8(co);
    *id = nurs_ct_attr_be16(ident);
    return true;
}

/* Writes the address as text into buf (>= 46 bytes). */
bool nurs_ct_addr(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst, char *buf,
                  size_t len);
/* Raw address bytes: 4 or 16; returns the length or 0. */
size_t nurs_ct_addr_raw(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst,
                        const void **bytes);
bool nurs_ct_port(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst, uint16_t *v);
bool nurs_ct_icmp(struct nurs_ct_msg *m, enum nurs_ct_dir dir, uint8_t *type,
                  uint8_t *code, uint16_t *id);
bool nurs_ct_tuple_zone(struct nurs_ct_msg *m, enum nurs_ct_dir dir, uint16_t *v);
bool nurs_ct_counters(struct nurs_ct_msg *m, enum nurs_ct_dir dir, uint64_t *packets,
                      uint64_t *bytes);
/* Protocol state name as conntrack -L prints it (ESTABLISHED...). */
const char *nurs_ct_state_name(struct nurs_ct_msg *m);
/* The TCP state number (TCP_CONNTRACK_*), false if not a TCP entry. */
bool nurs_ct_tcp_state(struct nurs_ct_msg *m, uint8_t *state);
bool nurs_ct_timestamp(struct nurs_ct_msg *m, bool stop, uint64_t *ns);
/* NUL-terminated strings borrowed from the message. */
const char *nurs_ct_helper(struct nurs_ct_msg *m);
const char *nurs_ct_secctx(struct nurs_ct_msg *m);
bool nurs_ct_labels(const struct nurs_ct_msg *m, const uint8_t **bits, size_t *len);

const char *nurs_ct_event_name(enum nurs_ct_event ev);
const char *nurs_ct_proto_name(uint8_t protonum); /* NULL if unnamed */
/* Name of status bit `bit` (IPS_*), NULL if unnamed. */
const char *nurs_ct_status_name(unsigned bit);

#endif
