#include "netlink/ct_synth.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <endian.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

/* CTA_TIMESTAMP_EVENT: newer than the headers we build against. */
#define CTA_TIMESTAMP_EVENT_ 27

static void put_tuple(struct nlmsghdr *nlh, int type, const struct nurs_ct_synth *c, int reply)
{
    const uint8_t *src = reply ? c->rsrc : c->src, *dst = reply ? c->rdst : c->dst;
    struct nlattr *t = mnl_attr_nest_start(nlh, type);
    struct nlattr *ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
    if (c->family == AF_INET) {
        mnl_attr_put(nlh, CTA_IP_V4_SRC, 4, src);
        mnl_attr_put(nlh, CTA_IP_V4_DST, 4, dst);
    } else {
        mnl_attr_put(nlh, CTA_IP_V6_SRC, 16, src);
        mnl_attr_put(nlh, CTA_IP_V6_DST, 16, dst);
    }
    mnl_attr_nest_end(nlh, ip);
    struct nlattr *p = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
    mnl_attr_put_u8(nlh, CTA_PROTO_NUM, c->proto);
    if (c->proto == IPPROTO_ICMP || c->proto == IPPROTO_ICMPV6) {
        int v6 = c->proto == IPPROTO_ICMPV6;
        mnl_attr_put_u16(nlh, v6 ? CTA_PROTO_ICMPV6_ID : CTA_PROTO_ICMP_ID, htons(c->icmp_id));
        mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_TYPE : CTA_PROTO_ICMP_TYPE,
                        reply ? c->ricmp_type : c->icmp_type);
        mnl_attr_put_u8(nlh, v6 ? CTA_PROTO_ICMPV6_CODE : CTA_PROTO_ICMP_CODE, c->icmp_code);
    } else {
        mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(reply ? c->rsport : c->sport));
        mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(reply ? c->rdport : c->dport));
    }
    mnl_attr_nest_end(nlh, p);
    mnl_attr_nest_end(nlh, t);
}

static size_t build(void *buf, size_t cap, const struct nurs_ct_synth *c, bool created)
{
    /* The largest message this writes (IPv6, every attribute) is well
     * under 400 bytes; mnl does not check bounds, so check here. */
    if (cap < 512)
        return 0;
    memset(buf, 0, 512);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | (created ? IPCTNL_MSG_CT_NEW : IPCTNL_MSG_CT_DELETE);
    if (created)
        nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    nlh->nlmsg_pid = c->portid;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = c->family;
    nfg->version = NFNETLINK_V0;
    put_tuple(nlh, CTA_TUPLE_ORIG, c, 0);
    put_tuple(nlh, CTA_TUPLE_REPLY, c, 1);
    if (c->zone)
        mnl_attr_put_u16(nlh, CTA_ZONE, htons(c->zone));
    mnl_attr_put_u32(nlh, CTA_ID, htonl(c->id));
    mnl_attr_put_u32(nlh, CTA_STATUS, htonl(c->status));
    mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(c->timeout));
    for (int d = 0; d < 2 && !created; d++) {
        struct nlattr *n = mnl_attr_nest_start(nlh, d ? CTA_COUNTERS_REPLY : CTA_COUNTERS_ORIG);
        mnl_attr_put_u64(nlh, CTA_COUNTERS_PACKETS, htobe64(c->packets[d]));
        mnl_attr_put_u64(nlh, CTA_COUNTERS_BYTES, htobe64(c->bytes[d]));
        mnl_attr_nest_end(nlh, n);
    }
    if (c->start_ns) {
        struct nlattr *ts = mnl_attr_nest_start(nlh, CTA_TIMESTAMP);
        mnl_attr_put_u64(nlh, CTA_TIMESTAMP_START, htobe64(c->start_ns));
        if (!created)
            mnl_attr_put_u64(nlh, CTA_TIMESTAMP_STOP, htobe64(c->stop_ns));
        mnl_attr_nest_end(nlh, ts);
    }
    if (c->proto == IPPROTO_TCP) {
        struct nlattr *pi = mnl_attr_nest_start(nlh, CTA_PROTOINFO);
        struct nlattr *tcp = mnl_attr_nest_start(nlh, CTA_PROTOINFO_TCP);
        mnl_attr_put_u8(nlh, CTA_PROTOINFO_TCP_STATE, c->tcp_state);
        mnl_attr_nest_end(nlh, tcp);
        mnl_attr_nest_end(nlh, pi);
    }
    if (c->mark)
        mnl_attr_put_u32(nlh, CTA_MARK, htonl(c->mark));
    if (c->event_ns)
        mnl_attr_put_u64(nlh, CTA_TIMESTAMP_EVENT_, htobe64(c->event_ns));
    return nlh->nlmsg_len;
}

size_t nurs_ct_synth_destroy(void *buf, size_t cap, const struct nurs_ct_synth *c)
{
    return build(buf, cap, c, false);
}

size_t nurs_ct_synth_new(void *buf, size_t cap, const struct nurs_ct_synth *c)
{
    return build(buf, cap, c, true);
}
