#include "ct_build.h"

#include <arpa/inet.h>
#include <endian.h>
#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

static void put_tuple(struct nlmsghdr *nlh, int type, const struct ct_build_opts *o, bool reply)
{
    const char *src = reply ? o->dst : o->src, *dst = reply ? o->src : o->dst;
    uint16_t sport = reply ? o->dport : o->sport, dport = reply ? o->sport : o->dport;
    struct nlattr *t = mnl_attr_nest_start(nlh, type);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    if (o->family == AF_INET) {
        struct in_addr a;
        inet_pton(AF_INET, src, &a);
        mnl_attr_put_u32(nlh, CTA_IP_V4_SRC, a.s_addr);
        inet_pton(AF_INET, dst, &a);
        mnl_attr_put_u32(nlh, CTA_IP_V4_DST, a.s_addr);
    } else {
        struct in6_addr a;
        inet_pton(AF_INET6, src, &a);
        mnl_attr_put(nlh, CTA_IP_V6_SRC, sizeof a, &a);
        inet_pton(AF_INET6, dst, &a);
        mnl_attr_put(nlh, CTA_IP_V6_DST, sizeof a, &a);
    }
    mnl_attr_nest_end(nlh, ip);
    struct nlattr *p = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, o->proto);
    if (o->proto == 1 || o->proto == 58) {
        bool v6 = o->proto == 58;
        mnl_attr_put_u16(nlh, v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, htons(o->sport));
        mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE,
                        reply ? (v6 ? 129 : 0) : (v6 ? 128 : 8));
        mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, 0);
    } else {
        mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
        mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
    }
    mnl_attr_nest_end(nlh, p);
    mnl_attr_nest_end(nlh, t);
}

struct nlmsghdr *ct_build(void *buf, const struct ct_build_opts *o)
{
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | o->msg_type;
    nlh->nlmsg_flags = o->flags;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = (uint8_t)o->family;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = 0;
    put_tuple(nlh, CTA_TUPLE_ORIG, o, false);
    put_tuple(nlh, CTA_TUPLE_REPLY, o, true);
    mnl_attr_put_u32(nlh, CTA_STATUS, htonl(o->status));
    if (o->proto == 6) {
        struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
        struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
        mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, o->tcp_state);
        mnl_attr_nest_end(nlh, tcp);
        mnl_attr_nest_end(nlh, pi);
    }
    if (o->packets[0] || o->bytes[0]) {
        for (int d = 0; d < 2; d++) {
            struct nlattr *c = mnl_attr_nest_start(nlh, d ? CTA_COUNTERS_REPLY : CTA_COUNTERS_ORIG);
            mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(o->packets[d]));
            mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(o->bytes[d]));
            mnl_attr_nest_end(nlh, c);
        }
    }
    if (o->start_ns) {
        struct nlattr *ts = mnl_attr_nest_start(nlh, CTA_TIMESTAMP);
        mnl_attr_put_u64(nlh, CTA_TIMESTAMP_START, htobe64(o->start_ns));
        if (o->stop_ns)
            mnl_attr_put_u64(nlh, CTA_TIMESTAMP_STOP, htobe64(o->stop_ns));
        mnl_attr_nest_end(nlh, ts);
    }
    if (o->helper) {
        struct nlattr *h = mnl_attr_nest_start(nlh, CTA_HELP);
        mnl_attr_put_strz(nlh, CTA_HELP_NAME, o->helper);
        mnl_attr_nest_end(nlh, h);
    }
    mnl_attr_put_u32(nlh, CTA_MARK, htonl(o->mark));
    if (o->msg_type != IPCTNL_MSG_CT_DELETE)
        mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(o->timeout));
    mnl_attr_put_u32(nlh, CTA_USE, htonl(o->use));
    mnl_attr_put_u32(nlh, CTA_ID, htonl(o->id));
    return nlh;
}
