#include "netlink/exp_msg.h"

#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter/nfnetlink.h>

#include "netlink/socket.h"

static const int top_types[CTA_EXPECT_MAX + 1] = {
    [CTA_EXPECT_MASTER] = NURS_NLA_NESTED,
    [CTA_EXPECT_TUPLE] = NURS_NLA_NESTED,
    [CTA_EXPECT_MASK] = NURS_NLA_NESTED,
    [CTA_EXPECT_TIMEOUT] = 4,
    [CTA_EXPECT_ID] = 4,
    [CTA_EXPECT_HELP_NAME] = NURS_NLA_STRING,
    [CTA_EXPECT_ZONE] = 2,
    [CTA_EXPECT_FLAGS] = 4,
    [CTA_EXPECT_CLASS] = 4,
    [CTA_EXPECT_NAT] = NURS_NLA_NESTED,
    [CTA_EXPECT_FN] = NURS_NLA_STRING,
};

static const int nat_types[CTA_EXPECT_NAT_MAX + 1] = {
    [CTA_EXPECT_NAT_DIR] = 4,
    [CTA_EXPECT_NAT_TUPLE] = NURS_NLA_NESTED,
};

bool nurs_exp_msg_is_entry(const struct nlmsghdr *nlh)
{
    if (NFNL_SUBSYS_ID(nlh->nlmsg_type) != NFNL_SUBSYS_CTNETLINK_EXP)
        return false;
    int msg = NFNL_MSG_TYPE(nlh->nlmsg_type);
    return msg == IPCTNL_MSG_EXP_NEW || msg == IPCTNL_MSG_EXP_DELETE;
}

int nurs_exp_msg_parse(struct nurs_exp_msg *m, const struct nlmsghdr *nlh, bool from_dump,
                       const char **why)
{
    memset(m, 0, offsetof(struct nurs_exp_msg, tuple));
    m->nlh = nlh;
    if (!nurs_exp_msg_is_entry(nlh)) {
        *why = "not an expectation message";
        return -1;
    }
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg)) {
        *why = "message shorter than its nfgenmsg header";
        return -1;
    }
    const struct nfgenmsg *nfg = (const struct nfgenmsg *)((const char *)nlh + NLMSG_HDRLEN);
    m->family = nfg->nfgen_family;
    if (m->family != AF_INET && m->family != AF_INET6) {
        *why = "unknown address family";
        return -1;
    }
    if (NFNL_MSG_TYPE(nlh->nlmsg_type) == IPCTNL_MSG_EXP_DELETE)
        m->event = NURS_CT_EVENT_DESTROY;
    else if (from_dump || !(nlh->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)))
        m->event = NURS_CT_EVENT_DUMP;
    else
        m->event = NURS_CT_EVENT_NEW;
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    if (!nurs_nla_parse((const char *)nlh + off, nlh->nlmsg_len > off ? nlh->nlmsg_len - off : 0,
                        m->tb, CTA_EXPECT_MAX, top_types, false)) {
        *why = "malformed expectation attribute";
        return -1;
    }
    if (!m->tb[CTA_EXPECT_TUPLE]) {
        *why = "expectation without its expected tuple";
        return -1;
    }
    if (m->tb[CTA_EXPECT_NAT] &&
        !nurs_nla_parse_nested(m->tb[CTA_EXPECT_NAT], m->nat, CTA_EXPECT_NAT_MAX, nat_types,
                               false))
        memset(m->nat, 0, sizeof m->nat);
    return 0;
}

const struct nurs_ct_tuple *nurs_exp_tuple(struct nurs_exp_msg *m, enum nurs_exp_tuple which)
{
    unsigned bit = 1u << which;
    const struct nlattr *nest = which == NURS_EXP_NAT     ? m->nat[CTA_EXPECT_NAT_TUPLE]
                                : which == NURS_EXP_MASTER ? m->tb[CTA_EXPECT_MASTER]
                                : which == NURS_EXP_TUPLE  ? m->tb[CTA_EXPECT_TUPLE]
                                                           : m->tb[CTA_EXPECT_MASK];
    if (!(m->parsed & bit)) {
        m->parsed |= bit;
        if (nest && !nurs_ct_tuple_walk(nest, &m->tuple[which]))
            m->malformed |= bit;
    }
    return !nest || (m->malformed & bit) ? NULL : &m->tuple[which];
}

bool nurs_exp_u32(const struct nurs_exp_msg *m, int cta, uint32_t *v)
{
    if (cta < 0 || cta > CTA_EXPECT_MAX || !m->tb[cta] ||
        m->tb[cta]->nla_len < NLA_HDRLEN + 4)
        return false;
    *v = nurs_ct_attr_be32(m->tb[cta]);
    return true;
}

bool nurs_exp_zone(const struct nurs_exp_msg *m, uint16_t *v)
{
    if (!m->tb[CTA_EXPECT_ZONE])
        return false;
    *v = nurs_ct_attr_be16(m->tb[CTA_EXPECT_ZONE]);
    return true;
}

const char *nurs_exp_helper(const struct nurs_exp_msg *m)
{
    return m->tb[CTA_EXPECT_HELP_NAME] ? nurs_ct_attr_data(m->tb[CTA_EXPECT_HELP_NAME]) : NULL;
}

const char *nurs_exp_fn(const struct nurs_exp_msg *m)
{
    return m->tb[CTA_EXPECT_FN] ? nurs_ct_attr_data(m->tb[CTA_EXPECT_FN]) : NULL;
}

bool nurs_exp_protonum(struct nurs_exp_msg *m, uint8_t *v)
{
    const struct nurs_ct_tuple *t = nurs_exp_tuple(m, NURS_EXP_TUPLE);
    if (!t || !t->proto[CTA_PROTO_NUM])
        t = nurs_exp_tuple(m, NURS_EXP_MASTER);
    if (!t || !t->proto[CTA_PROTO_NUM])
        return false;
    *v = nurs_ct_attr_u8(t->proto[CTA_PROTO_NUM]);
    return true;
}

bool nurs_exp_nat_dir(struct nurs_exp_msg *m, uint32_t *v)
{
    if (!m->nat[CTA_EXPECT_NAT_DIR])
        return false;
    *v = nurs_ct_attr_be32(m->nat[CTA_EXPECT_NAT_DIR]);
    return true;
}

const char *nurs_exp_flag_name(unsigned bit)
{
    /* NF_CT_EXPECT_PERMANENT, _INACTIVE, _USERSPACE */
    static const char *const names[] = {"PERMANENT", "INACTIVE", "USERSPACE"};
    return bit < sizeof names / sizeof *names ? names[bit] : NULL;
}
