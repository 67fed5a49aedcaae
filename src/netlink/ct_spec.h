/* A conntrack entry or expectation named by plain values, in the
 * vocabulary of the records (orig.src, proto, mark, zone...): what a
 * request to the table is made of (get, delete, update, create) and what
 * a filter over entries matches (delete every entry to port 993, as
 * `conntrack -D -p tcp --dport 993` does). Filled from a script's table or
 * from a record; nothing here knows Lua or sockets. */
#ifndef NURS_NETLINK_CT_SPEC_H
#define NURS_NETLINK_CT_SPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "netlink/ct_msg.h"
#include "netlink/exp_msg.h"

/* What a tuple names. */
enum {
    NURS_CTS_SRC = 1u << 0,
    NURS_CTS_DST = 1u << 1,
    NURS_CTS_SPORT = 1u << 2,
    NURS_CTS_DPORT = 1u << 3,
    NURS_CTS_ICMP_TYPE = 1u << 4,
    NURS_CTS_ICMP_CODE = 1u << 5,
    NURS_CTS_ICMP_ID = 1u << 6,
    NURS_CTS_TUPLE_ZONE = 1u << 7,
};

struct nurs_ct_tuple_spec {
    unsigned has;
    uint8_t src[16], dst[16]; /* 4 bytes used for IPv4 */
    uint8_t src_plen, dst_plen; /* prefix lengths: a filter may name a network */
    uint16_t sport, dport;
    uint8_t icmp_type, icmp_code;
    uint16_t icmp_id;
    uint16_t zone;
};

/* What an entry names beside its tuples. */
enum {
    NURS_CTS_FAMILY = 1u << 0,
    NURS_CTS_PROTO = 1u << 1,
    NURS_CTS_ZONE = 1u << 2,
    NURS_CTS_ID = 1u << 3,
    NURS_CTS_MARK = 1u << 4,
    NURS_CTS_STATUS = 1u << 5,
    NURS_CTS_TIMEOUT = 1u << 6,
    NURS_CTS_LABELS = 1u << 7,
    NURS_CTS_STATE = 1u << 8,
    NURS_CTS_HELPER = 1u << 9,
};

#define NURS_CT_LABEL_BYTES 16 /* 128 label bits, as the kernel keeps */

struct nurs_ct_spec {
    unsigned has;
    uint8_t family; /* AF_INET or AF_INET6 */
    uint8_t proto;
    struct nurs_ct_tuple_spec orig, reply;
    uint16_t zone;
    uint32_t id;
    uint32_t mark, mark_mask;     /* filters: mark & mask == mark; updates: bits to set */
    uint32_t status, status_mask; /* filters: status & mask == status; updates: bits to set */
    uint32_t timeout;             /* seconds */
    /* Label bit b is bit b % 32 of word b / 32, as the kernel keeps them. */
    uint32_t labels[NURS_CT_LABEL_BYTES / 4], labels_mask[NURS_CT_LABEL_BYTES / 4];
    uint8_t state; /* TCP state (TCP_CONNTRACK_*) */
    char helper[16];
};

/* Tuples are full: both addresses, and ports (or ICMP type, code, id) for
 * protocols that have them; what the kernel needs to find one entry. */
bool nurs_ct_tuple_spec_full(const struct nurs_ct_spec *s, const struct nurs_ct_tuple_spec *t);
/* The identity of the entry of m: family, protocol, original tuple, zone,
 * id. False when the message lacks one of them (no tuple, no protocol). */
bool nurs_ct_spec_from_msg(struct nurs_ct_spec *s, struct nurs_ct_msg *m);
/* True when the entry of m has every value the filter names. */
bool nurs_ct_spec_match(const struct nurs_ct_spec *f, struct nurs_ct_msg *m);
/* TCP state number from its name as conntrack -L prints it
 * ("ESTABLISHED"); -1 if unknown. */
int nurs_ct_tcp_state_number(const char *name);

/* An expectation: the tuples of its master and of the expected
 * connection, the mask, and the rest. */
enum {
    NURS_EXS_TIMEOUT = 1u << 0,
    NURS_EXS_ZONE = 1u << 1,
    NURS_EXS_FLAGS = 1u << 2,
    NURS_EXS_CLASS = 1u << 3,
    NURS_EXS_HELPER = 1u << 4,
    NURS_EXS_ID = 1u << 5,
    NURS_EXS_MASTER = 1u << 6,
    NURS_EXS_TUPLE = 1u << 7,
    NURS_EXS_MASK = 1u << 8,
};

struct nurs_exp_spec {
    unsigned has;
    /* Each with family, protocol and its `orig` tuple. */
    struct nurs_ct_spec master, tuple, mask;
    uint32_t timeout, flags, klass, id;
    uint16_t zone;
    char helper[16];
};

bool nurs_exp_spec_from_msg(struct nurs_exp_spec *s, struct nurs_exp_msg *m);
bool nurs_exp_spec_match(const struct nurs_exp_spec *f, struct nurs_exp_msg *m);

#endif
