#include "netlink/ct_stats.h"

#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "netlink/ct_msg.h"
#include "netlink/socket.h"

/* Indexed by attribute number; NULL: no longer sent by the kernel. */
static const char *const cpu_names[NURS_CT_STATS_MAX] = {
    [CTA_STATS_FOUND] = "found",
    [CTA_STATS_INVALID] = "invalid",
    [CTA_STATS_INSERT] = "insert",
    [CTA_STATS_INSERT_FAILED] = "insert_failed",
    [CTA_STATS_DROP] = "drop",
    [CTA_STATS_EARLY_DROP] = "early_drop",
    [CTA_STATS_ERROR] = "error",
    [CTA_STATS_SEARCH_RESTART] = "search_restart",
    [CTA_STATS_CLASH_RESOLVE] = "clash_resolve",
    [CTA_STATS_CHAIN_TOOLONG] = "chaintoolong",
};
static const char *const global_names[NURS_CT_STATS_MAX] = {
    [CTA_STATS_GLOBAL_ENTRIES] = "entries",
    [CTA_STATS_GLOBAL_MAX_ENTRIES] = "max_entries",
};
static const char *const exp_names[NURS_CT_STATS_MAX] = {
    [CTA_STATS_EXP_NEW] = "new",
    [CTA_STATS_EXP_CREATE] = "create",
    [CTA_STATS_EXP_DELETE] = "delete",
};

const char *nurs_ct_stats_name(enum nurs_ct_stats_kind kind, int i)
{
    if (i < 0 || i >= NURS_CT_STATS_MAX)
        return NULL;
    switch (kind) {
    case NURS_CT_STATS_CPU: return cpu_names[i];
    case NURS_CT_STATS_GLOBAL: return global_names[i];
    case NURS_CT_STATS_EXP_CPU: return exp_names[i];
    }
    return NULL;
}

int nurs_ct_stats_parse(const struct nlmsghdr *nlh, enum nurs_ct_stats_kind kind,
                        struct nurs_ct_stats *out, const char **why)
{
    static const struct {
        int subsys, msg;
    } types[] = {
        [NURS_CT_STATS_CPU] = {NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU},
        [NURS_CT_STATS_GLOBAL] = {NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS},
        [NURS_CT_STATS_EXP_CPU] = {NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET_STATS_CPU},
    };
    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != types[kind].subsys ||
        NFNL_MSG_TYPE(nlh->nlmsg_type) != types[kind].msg)
        return 1;
    memset(out, 0, sizeof *out);
    out->kind = kind;
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg)) {
        *why = "statistics message shorter than its nfgenmsg header";
        return -1;
    }
    const struct nfgenmsg *nfg = (const struct nfgenmsg *)((const char *)nlh + NLMSG_HDRLEN);
    out->cpu = be16toh(nfg->res_id);
    /* Every value is a 32-bit counter. */
    int min_len[NURS_CT_STATS_MAX];
    for (int i = 0; i < NURS_CT_STATS_MAX; i++)
        min_len[i] = i ? 4 : NURS_NLA_ANY;
    const struct nlattr *tb[NURS_CT_STATS_MAX] = {0};
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    if (!nurs_nla_parse((const char *)nlh + off, nlh->nlmsg_len > off ? nlh->nlmsg_len - off : 0,
                        tb, NURS_CT_STATS_MAX - 1, min_len, true)) {
        *why = "malformed statistics attribute";
        return -1;
    }
    for (int i = 1; i < NURS_CT_STATS_MAX; i++) {
        if (!tb[i] || !nurs_ct_stats_name(kind, i))
            continue;
        out->value[i] = nurs_ct_attr_be32(tb[i]);
        out->present |= 1u << i;
    }
    return 0;
}
