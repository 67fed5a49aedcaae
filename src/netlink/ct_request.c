#include "netlink/ct_request.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

/* CTA_FILTER's flags (the kernel's CTA_FILTER_F_*, not in the uapi
 * headers): which fields of the tuple that follows must match. */
enum {
    FILTER_IP_SRC = 1u << 0,
    FILTER_IP_DST = 1u << 1,
    FILTER_PROTO_NUM = 1u << 3,
    FILTER_PORT_SRC = 1u << 4,
    FILTER_PORT_DST = 1u << 5,
    FILTER_ICMP_TYPE = 1u << 6,
    FILTER_ICMP_CODE = 1u << 7,
    FILTER_ICMP_ID = 1u << 8,
    FILTER_ICMPV6_TYPE = 1u << 9,
    FILTER_ICMPV6_CODE = 1u << 10,
    FILTER_ICMPV6_ID = 1u << 11,
};

static struct nlmsghdr *put_header(void *buf, uint16_t subsys, uint16_t msg, uint16_t flags,
                                   uint8_t family, uint8_t version, uint32_t seq)
{
    memset(buf, 0, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (uint16_t)(subsys << 8 | msg);
    nlh->nlmsg_flags = NLM_F_REQUEST | flags;
    nlh->nlmsg_seq = seq;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = family;
    nfg->version = version;
    nfg->res_id = 0;
    return nlh;
}

/* ---- one entry, through libnetfilter_conntrack ---- */

static void set_tuple(struct nf_conntrack *ct, const struct nurs_ct_spec *s,
                      const struct nurs_ct_tuple_spec *t, bool reply)
{
    if (s->family == AF_INET) {
        uint32_t a;
        memcpy(&a, t->src, 4);
        nfct_set_attr_u32(ct, reply ? ATTR_REPL_IPV4_SRC : ATTR_IPV4_SRC, a);
        memcpy(&a, t->dst, 4);
        nfct_set_attr_u32(ct, reply ? ATTR_REPL_IPV4_DST : ATTR_IPV4_DST, a);
    } else {
        nfct_set_attr(ct, reply ? ATTR_REPL_IPV6_SRC : ATTR_IPV6_SRC, t->src);
        nfct_set_attr(ct, reply ? ATTR_REPL_IPV6_DST : ATTR_IPV6_DST, t->dst);
    }
    nfct_set_attr_u8(ct, reply ? ATTR_REPL_L3PROTO : ATTR_L3PROTO, s->family);
    nfct_set_attr_u8(ct, reply ? ATTR_REPL_L4PROTO : ATTR_L4PROTO, s->proto);
    if (t->has & NURS_CTS_SPORT)
        nfct_set_attr_u16(ct, reply ? ATTR_REPL_PORT_SRC : ATTR_PORT_SRC, htons(t->sport));
    if (t->has & NURS_CTS_DPORT)
        nfct_set_attr_u16(ct, reply ? ATTR_REPL_PORT_DST : ATTR_PORT_DST, htons(t->dport));
    if (!reply && (t->has & NURS_CTS_ICMP_TYPE)) {
        nfct_set_attr_u8(ct, ATTR_ICMP_TYPE, t->icmp_type);
        nfct_set_attr_u8(ct, ATTR_ICMP_CODE, t->icmp_code);
        nfct_set_attr_u16(ct, ATTR_ICMP_ID, htons(t->icmp_id));
    }
}

static bool set_labels(struct nf_conntrack *ct, const uint32_t *bits, int attr)
{
    struct nfct_bitmask *b = nfct_bitmask_new(NURS_CT_LABEL_BYTES * 8 - 1);
    if (!b)
        return false;
    for (unsigned i = 0; i < NURS_CT_LABEL_BYTES * 8; i++)
        if (bits[i / 32] & (1u << (i % 32)))
            nfct_bitmask_set_bit(b, i);
    /* The object owns the bitmask from now on. */
    nfct_set_attr(ct, attr, b);
    return true;
}

/* What an update or a creation sets. */
static bool set_changes(struct nf_conntrack *ct, const struct nurs_ct_spec *c, bool create)
{
    if (c->has & NURS_CTS_MARK)
        nfct_set_attr_u32(ct, ATTR_MARK, c->mark);
    if (c->has & NURS_CTS_TIMEOUT)
        nfct_set_attr_u32(ct, ATTR_TIMEOUT, c->timeout);
    if (c->has & NURS_CTS_STATUS)
        nfct_set_attr_u32(ct, ATTR_STATUS, c->status);
    if ((c->has & NURS_CTS_LABELS) &&
        (!set_labels(ct, c->labels, ATTR_CONNLABELS) ||
         (!create && !set_labels(ct, c->labels_mask, ATTR_CONNLABELS_MASK))))
        return false;
    if (create && (c->has & NURS_CTS_STATE) && c->proto == IPPROTO_TCP)
        nfct_set_attr_u8(ct, ATTR_TCP_STATE, c->state);
    if (create && (c->has & NURS_CTS_HELPER))
        nfct_set_attr(ct, ATTR_HELPER_NAME, c->helper);
    return true;
}

size_t nurs_ct_req_entry(void *buf, enum nurs_ct_req kind, const struct nurs_ct_spec *s,
                         const struct nurs_ct_spec *change, uint32_t seq, char *err,
                         size_t errlen)
{
    if (!nurs_ct_tuple_spec_full(s, &s->orig)) {
        snprintf(err, errlen, "the entry needs its whole original tuple: family, proto, "
                              "orig.src, orig.dst and ports (or ICMP type, code, id)");
        return 0;
    }
    if (kind == NURS_CT_REQ_CREATE && !(change->has & NURS_CTS_TIMEOUT)) {
        snprintf(err, errlen, "a new entry needs a timeout");
        return 0;
    }
    static const uint16_t types[] = {
        [NURS_CT_REQ_GET] = IPCTNL_MSG_CT_GET,
        [NURS_CT_REQ_DELETE] = IPCTNL_MSG_CT_DELETE,
        [NURS_CT_REQ_UPDATE] = IPCTNL_MSG_CT_NEW,
        [NURS_CT_REQ_CREATE] = IPCTNL_MSG_CT_NEW,
    };
    uint16_t flags = NLM_F_ACK | (kind == NURS_CT_REQ_CREATE ? NLM_F_CREATE | NLM_F_EXCL : 0);
    struct nlmsghdr *nlh =
        put_header(buf, NFNL_SUBSYS_CTNETLINK, types[kind], flags, s->family, NFNETLINK_V0, seq);
    struct nf_conntrack *ct = nfct_new();
    if (!ct) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    set_tuple(ct, s, &s->orig, false);
    if (kind == NURS_CT_REQ_CREATE) {
        if (nurs_ct_tuple_spec_full(s, &s->reply))
            set_tuple(ct, s, &s->reply, true);
        else
            nfct_setobjopt(ct, NFCT_SOPT_SETUP_REPLY);
    }
    if (s->has & NURS_CTS_ZONE)
        nfct_set_attr_u16(ct, ATTR_ZONE, s->zone);
    bool ok = true;
    if (kind == NURS_CT_REQ_UPDATE || kind == NURS_CT_REQ_CREATE)
        ok = set_changes(ct, change, kind == NURS_CT_REQ_CREATE);
    if (!ok || nfct_nlmsg_build(nlh, ct) < 0) {
        snprintf(err, errlen, "cannot build the request: %s", ok ? strerror(errno) : "out of memory");
        nfct_destroy(ct);
        return 0;
    }
    nfct_destroy(ct);
    /* The library builds no id (it makes a delete or update exact: an
     * entry that ended and came back under the same tuple is left alone)
     * and no mark mask (the kernel sets (mark & ~mask) ^ value). */
    if ((s->has & NURS_CTS_ID) && kind != NURS_CT_REQ_CREATE)
        mnl_attr_put_u32(nlh, CTA_ID, htonl(s->id));
    if (kind == NURS_CT_REQ_UPDATE && (change->has & NURS_CTS_MARK))
        mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(change->mark_mask));
    return nlh->nlmsg_len;
}

/* ---- listings, flushes, statistics: a few attributes by hand ---- */

static bool full_addr(const struct nurs_ct_spec *f, unsigned plen)
{
    return plen == (f->family == AF_INET6 ? 128u : 32u);
}

/* The part of a tuple filter the kernel can apply (exact addresses, the
 * protocol, ports of TCP and UDP, ICMP fields); 0 if none. */
static uint32_t filter_flags(const struct nurs_ct_spec *f, const struct nurs_ct_tuple_spec *t)
{
    if (!(f->has & NURS_CTS_FAMILY) || !t->has)
        return 0;
    uint32_t flags = 0;
    if ((t->has & NURS_CTS_SRC) && full_addr(f, t->src_plen))
        flags |= FILTER_IP_SRC;
    if ((t->has & NURS_CTS_DST) && full_addr(f, t->dst_plen))
        flags |= FILTER_IP_DST;
    if (!(f->has & NURS_CTS_PROTO))
        return flags;
    flags |= FILTER_PROTO_NUM;
    bool v6 = f->family == AF_INET6;
    switch (f->proto) {
    case IPPROTO_TCP:
    case IPPROTO_UDP:
        if (t->has & NURS_CTS_SPORT)
            flags |= FILTER_PORT_SRC;
        if (t->has & NURS_CTS_DPORT)
            flags |= FILTER_PORT_DST;
        break;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        if (t->has & NURS_CTS_ICMP_TYPE)
            flags |= v6 ? FILTER_ICMPV6_TYPE : FILTER_ICMP_TYPE;
        if (t->has & NURS_CTS_ICMP_CODE)
            flags |= v6 ? FILTER_ICMPV6_CODE : FILTER_ICMP_CODE;
        if (t->has & NURS_CTS_ICMP_ID)
            flags |= v6 ? FILTER_ICMPV6_ID : FILTER_ICMP_ID;
        break;
    }
    return flags;
}

static void put_filter_tuple(struct nlmsghdr *nlh, int type, const struct nurs_ct_spec *f,
                             const struct nurs_ct_tuple_spec *t, uint32_t flags)
{
    bool v6 = f->family == AF_INET6;
    struct nlattr *nest = mnl_attr_nest_start(nlh, type);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    if (flags & FILTER_IP_SRC)
        mnl_attr_put(nlh, v6 ? CTA_IP_V6_SRC : CTA_IP_V4_SRC, v6 ? 16 : 4, t->src);
    if (flags & FILTER_IP_DST)
        mnl_attr_put(nlh, v6 ? CTA_IP_V6_DST : CTA_IP_V4_DST, v6 ? 16 : 4, t->dst);
    mnl_attr_nest_end(nlh, ip);
    if (flags & FILTER_PROTO_NUM) {
        struct nlattr *p = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
        mnl_attr_put_u8(nlh, CTA_PROTO_NUM, f->proto);
        if (flags & FILTER_PORT_SRC)
            mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(t->sport));
        if (flags & FILTER_PORT_DST)
            mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(t->dport));
        if (flags & (FILTER_ICMP_TYPE | FILTER_ICMPV6_TYPE))
            mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE, t->icmp_type);
        if (flags & (FILTER_ICMP_CODE | FILTER_ICMPV6_CODE))
            mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, t->icmp_code);
        if (flags & (FILTER_ICMP_ID | FILTER_ICMPV6_ID))
            mnl_attr_put_u16(nlh, v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID,
                             htons(t->icmp_id));
        mnl_attr_nest_end(nlh, p);
    }
    mnl_attr_nest_end(nlh, nest);
}

size_t nurs_ct_req_dump(void *buf, const struct nurs_ct_spec *f, bool zero, uint32_t seq)
{
    struct nlmsghdr *nlh =
        put_header(buf, NFNL_SUBSYS_CTNETLINK, zero ? IPCTNL_MSG_CT_GET_CTRZERO : IPCTNL_MSG_CT_GET,
                   NLM_F_DUMP, AF_UNSPEC, NFNETLINK_V0, seq);
    if (!f)
        return nlh->nlmsg_len;
    struct nfct_filter_dump *fd = nfct_filter_dump_create();
    if (fd) {
        if (f->has & NURS_CTS_MARK)
            nfct_filter_dump_set_attr(fd, NFCT_FILTER_DUMP_MARK,
                                      &(struct nfct_filter_dump_mark){f->mark, f->mark_mask});
        if ((f->has & NURS_CTS_STATUS) && f->status_mask)
            nfct_filter_dump_set_attr(fd, NFCT_FILTER_DUMP_STATUS,
                                      &(struct nfct_filter_dump_mark){f->status, f->status_mask});
        if (f->has & NURS_CTS_FAMILY)
            nfct_filter_dump_set_attr_u8(fd, NFCT_FILTER_DUMP_L3NUM, f->family);
        nfct_nlmsg_build_filter(nlh, fd);
        nfct_filter_dump_destroy(fd);
    }
    /* Kernels before 6.8 ignore a zone here: the caller filters anyway. */
    if (f->has & NURS_CTS_ZONE)
        mnl_attr_put_u16(nlh, CTA_ZONE, htons(f->zone));
    uint32_t orig = filter_flags(f, &f->orig), reply = filter_flags(f, &f->reply);
    if (orig || reply) {
        if (orig)
            put_filter_tuple(nlh, CTA_TUPLE_ORIG, f, &f->orig, orig);
        if (reply)
            put_filter_tuple(nlh, CTA_TUPLE_REPLY, f, &f->reply, reply);
        struct nlattr *nest = mnl_attr_nest_start(nlh, CTA_FILTER);
        if (orig)
            mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, orig);
        if (reply)
            mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, reply);
        mnl_attr_nest_end(nlh, nest);
    }
    return nlh->nlmsg_len;
}

size_t nurs_ct_req_flush(void *buf, uint8_t family, uint32_t seq)
{
    /* Version 1 makes the kernel honour the family (version 0: all). */
    struct nlmsghdr *nlh = put_header(buf, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_DELETE, NLM_F_ACK,
                                      family, family ? 1 : NFNETLINK_V0, seq);
    return nlh->nlmsg_len;
}

size_t nurs_ct_req_stats(void *buf, enum nurs_ct_stats_kind kind, uint32_t seq)
{
    struct nlmsghdr *nlh;
    switch (kind) {
    case NURS_CT_STATS_GLOBAL:
        nlh = put_header(buf, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS, NLM_F_ACK, AF_UNSPEC,
                         NFNETLINK_V0, seq);
        break;
    case NURS_CT_STATS_EXP_CPU:
        nlh = put_header(buf, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET_STATS_CPU, NLM_F_DUMP,
                         AF_UNSPEC, NFNETLINK_V0, seq);
        break;
    case NURS_CT_STATS_CPU:
    default:
        nlh = put_header(buf, NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET_STATS_CPU, NLM_F_DUMP,
                         AF_UNSPEC, NFNETLINK_V0, seq);
        break;
    }
    return nlh->nlmsg_len;
}

/* ---- expectations, through libnetfilter_conntrack ---- */

static struct nf_conntrack *tuple_object(const struct nurs_ct_spec *s)
{
    struct nf_conntrack *ct = nfct_new();
    if (ct)
        set_tuple(ct, s, &s->orig, false);
    return ct;
}

size_t nurs_exp_req_entry(void *buf, enum nurs_ct_req kind, const struct nurs_exp_spec *s,
                          uint32_t seq, char *err, size_t errlen)
{
    bool by_tuple = (s->has & NURS_EXS_TUPLE) && nurs_ct_tuple_spec_full(&s->tuple, &s->tuple.orig);
    bool by_master = (s->has & NURS_EXS_MASTER) &&
                     nurs_ct_tuple_spec_full(&s->master, &s->master.orig);
    switch (kind) {
    case NURS_CT_REQ_CREATE:
        if (!by_tuple || !by_master || !(s->has & NURS_EXS_MASK) ||
            !(s->has & NURS_EXS_TIMEOUT)) {
            snprintf(err, errlen, "a new expectation needs master and tuple (whole), mask and "
                                  "timeout");
            return 0;
        }
        break;
    case NURS_CT_REQ_GET:
        if (!by_tuple && !by_master) {
            snprintf(err, errlen, "an expectation is found by its whole tuple or master");
            return 0;
        }
        break;
    default:
        if (!by_tuple && !(s->has & NURS_EXS_HELPER)) {
            snprintf(err, errlen, "an expectation is deleted by its whole tuple, or all of "
                                  "a helper's");
            return 0;
        }
        break;
    }
    static const uint16_t types[] = {
        [NURS_CT_REQ_GET] = IPCTNL_MSG_EXP_GET,
        [NURS_CT_REQ_DELETE] = IPCTNL_MSG_EXP_DELETE,
        [NURS_CT_REQ_UPDATE] = IPCTNL_MSG_EXP_NEW,
        [NURS_CT_REQ_CREATE] = IPCTNL_MSG_EXP_NEW,
    };
    uint8_t family = by_tuple ? s->tuple.family : by_master ? s->master.family : AF_UNSPEC;
    uint16_t flags = NLM_F_ACK | (kind == NURS_CT_REQ_CREATE ? NLM_F_CREATE | NLM_F_EXCL : 0);
    struct nlmsghdr *nlh =
        put_header(buf, NFNL_SUBSYS_CTNETLINK_EXP, types[kind], flags, family, NFNETLINK_V0, seq);
    struct nf_expect *exp = nfexp_new();
    struct nf_conntrack *parts[3] = {NULL, NULL, NULL};
    bool ok = exp != NULL;
    if (ok && by_master && kind != NURS_CT_REQ_DELETE)
        ok = (parts[0] = tuple_object(&s->master)) && (nfexp_set_attr(exp, ATTR_EXP_MASTER, parts[0]), true);
    if (ok && by_tuple)
        ok = (parts[1] = tuple_object(&s->tuple)) && (nfexp_set_attr(exp, ATTR_EXP_EXPECTED, parts[1]), true);
    if (ok && kind == NURS_CT_REQ_CREATE)
        ok = (parts[2] = tuple_object(&s->mask)) && (nfexp_set_attr(exp, ATTR_EXP_MASK, parts[2]), true);
    if (ok) {
        if (kind == NURS_CT_REQ_CREATE) {
            nfexp_set_attr_u32(exp, ATTR_EXP_TIMEOUT, s->timeout);
            if (s->has & NURS_EXS_FLAGS)
                nfexp_set_attr_u32(exp, ATTR_EXP_FLAGS, s->flags);
            if (s->has & NURS_EXS_CLASS)
                nfexp_set_attr_u32(exp, ATTR_EXP_CLASS, s->klass);
        }
        if (s->has & NURS_EXS_ZONE)
            nfexp_set_attr_u16(exp, ATTR_EXP_ZONE, s->zone);
        if ((s->has & NURS_EXS_HELPER) && (kind == NURS_CT_REQ_CREATE || !by_tuple))
            nfexp_set_attr(exp, ATTR_EXP_HELPER_NAME, s->helper);
        ok = nfexp_nlmsg_build(nlh, exp) >= 0;
    }
    for (int i = 0; i < 3; i++)
        if (parts[i])
            nfct_destroy(parts[i]);
    if (exp)
        nfexp_destroy(exp);
    if (!ok) {
        snprintf(err, errlen, "cannot build the request: %s", strerror(errno ? errno : ENOMEM));
        return 0;
    }
    /* The library has no id attribute: it makes a delete exact. */
    if (kind == NURS_CT_REQ_DELETE && by_tuple && (s->has & NURS_EXS_ID))
        mnl_attr_put_u32(nlh, CTA_EXPECT_ID, htonl(s->id));
    return nlh->nlmsg_len;
}

size_t nurs_exp_req_dump(void *buf, uint8_t family, uint32_t seq)
{
    return put_header(buf, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_GET, NLM_F_DUMP, family,
                      NFNETLINK_V0, seq)
        ->nlmsg_len;
}

size_t nurs_exp_req_flush(void *buf, uint8_t family, uint32_t seq)
{
    return put_header(buf, NFNL_SUBSYS_CTNETLINK_EXP, IPCTNL_MSG_EXP_DELETE, NLM_F_ACK, family,
                      NFNETLINK_V0, seq)
        ->nlmsg_len;
}
