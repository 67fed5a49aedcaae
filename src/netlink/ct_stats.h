/* The conntrack table's statistics as the kernel reports them: per CPU
 * (what `conntrack -S` prints), the whole table (`conntrack -C`: entries
 * and the limit), and per CPU for expectations. One decoder for the
 * three answers, bounds-checked like every decoder of kernel input. */
#ifndef NURS_NETLINK_CT_STATS_H
#define NURS_NETLINK_CT_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/netlink.h>

enum nurs_ct_stats_kind {
    NURS_CT_STATS_CPU,     /* IPCTNL_MSG_CT_GET_STATS_CPU */
    NURS_CT_STATS_GLOBAL,  /* IPCTNL_MSG_CT_GET_STATS */
    NURS_CT_STATS_EXP_CPU, /* IPCTNL_MSG_EXP_GET_STATS_CPU */
};

#define NURS_CT_STATS_MAX 16

struct nurs_ct_stats {
    enum nurs_ct_stats_kind kind;
    uint16_t cpu;     /* per-CPU kinds */
    uint32_t present; /* bit i: value[i] was reported */
    uint32_t value[NURS_CT_STATS_MAX];
};

/* Decodes one answer of the given kind. Returns 0, 1 when nlh is not one
 * (another message type: skip it), or -1 with *why for a malformed one. */
int nurs_ct_stats_parse(const struct nlmsghdr *nlh, enum nurs_ct_stats_kind kind,
                        struct nurs_ct_stats *out, const char **why);
/* The name of value i of a kind (as conntrack -S prints it), NULL for an
 * attribute the kernel no longer sends or that has no name. */
const char *nurs_ct_stats_name(enum nurs_ct_stats_kind kind, int i);

#endif
