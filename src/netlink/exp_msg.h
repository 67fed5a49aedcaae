/* A conntrack expectation message (the `expect` table: the data
 * connections FTP, SIP, TFTP... helpers announce) seen in place, with the
 * same zero-copy rules as conntrack entries: the attribute table points
 * into the receive buffer, tuples are parsed on first use, values are
 * decoded when asked for. Nothing here allocates. */
#ifndef NURS_NETLINK_EXP_MSG_H
#define NURS_NETLINK_EXP_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "netlink/ct_msg.h"

/* The tuples of an expectation. */
enum nurs_exp_tuple {
    NURS_EXP_MASTER, /* the connection that announced it */
    NURS_EXP_TUPLE,  /* the expected connection */
    NURS_EXP_MASK,   /* which bits of `tuple` must match */
    NURS_EXP_NAT,    /* where NAT sends the expected connection */
    NURS_EXP_N_TUPLES
};

struct nurs_exp_msg {
    const struct nlmsghdr *nlh;
    enum nurs_ct_event event; /* new, destroy, or dump (listed) */
    uint8_t family;
    const struct nlattr *tb[CTA_EXPECT_MAX + 1];
    const struct nlattr *nat[CTA_EXPECT_NAT_MAX + 1];
    unsigned parsed;    /* tuples parsed (bit per enum nurs_exp_tuple) */
    unsigned malformed; /* ... found malformed (read as absent) */
    struct nurs_ct_tuple tuple[NURS_EXP_N_TUPLES];
};

/* True if nlh is an expectation message (new, destroy, or listed). */
bool nurs_exp_msg_is_entry(const struct nlmsghdr *nlh);
/* Parses the top level of an expectation message that nurs_nlmsg_ok()
 * accepted. Returns 0, or -1 with *why set to a static description. */
int nurs_exp_msg_parse(struct nurs_exp_msg *m, const struct nlmsghdr *nlh, bool from_dump,
                       const char **why);
/* A tuple, NULL if absent or malformed. */
const struct nurs_ct_tuple *nurs_exp_tuple(struct nurs_exp_msg *m, enum nurs_exp_tuple which);
bool nurs_exp_u32(const struct nurs_exp_msg *m, int cta, uint32_t *v);
bool nurs_exp_zone(const struct nurs_exp_msg *m, uint16_t *v);
/* NUL-terminated strings borrowed from the message. */
const char *nurs_exp_helper(const struct nurs_exp_msg *m);
const char *nurs_exp_fn(const struct nurs_exp_msg *m);
/* The protocol number, from the expected tuple (else the master's). */
bool nurs_exp_protonum(struct nurs_exp_msg *m, uint8_t *v);
/* NAT direction of the expected connection (0 original, 1 reply). */
bool nurs_exp_nat_dir(struct nurs_exp_msg *m, uint32_t *v);
/* Name of expectation flag bit `bit` (NF_CT_EXPECT_*), NULL if unnamed. */
const char *nurs_exp_flag_name(unsigned bit);

#endif
