#include "sinks/flow/flow.h"

#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "process/attribution.h"

/* out is zeroed by the caller */
static void copy_addr(const struct nurs_ct_tuple *t, bool dst, uint8_t out[16])
{
    const void *raw;
    size_t n = nurs_ct_tuple_addr(t, dst, &raw);
    /* Fixed sizes: a copy of a variable length is a call into libc. */
    if (n == 4)
        memcpy(out, raw, 4);
    else if (n == 16)
        memcpy(out, raw, 16);
}

enum nurs_end_reason nurs_ct_end_reason(struct nurs_ct_msg *m)
{
    uint8_t state;
    if (!nurs_ct_tcp_state(m, &state))
        return NURS_END_IDLE;
    switch (state) {
    case TCP_CONNTRACK_FIN_WAIT:
    case TCP_CONNTRACK_CLOSE_WAIT:
    case TCP_CONNTRACK_LAST_ACK:
    case TCP_CONNTRACK_TIME_WAIT:
    case TCP_CONNTRACK_CLOSE:
        return NURS_END_OF_FLOW;
    default:
        return NURS_END_IDLE;
    }
}

static uint64_t port(const struct nurs_ct_tuple *t, bool dst)
{
    uint16_t v = 0;
    nurs_ct_tuple_port(t, dst, &v);
    return v;
}

/* t: the tuple of the flow's direction, other: the other direction's. */
static void fill_direction(struct nurs_ct_msg *m, enum nurs_ct_dir dir,
                           const struct nurs_ct_tuple *t, const struct nurs_ct_tuple *other,
                           struct nurs_flow *f)
{
    copy_addr(t, false, f->src);
    copy_addr(t, true, f->dst);
    f->sport = port(t, false);
    f->dport = port(t, true);
    uint16_t icmp_id;
    f->icmp = nurs_ct_tuple_icmp(t, &f->icmp_type, &f->icmp_code, &icmp_id);
    if (f->nat) {
        /* A packet of this direction leaves the box with the addresses that
         * the other direction's tuple expects to answer, swapped. */
        copy_addr(other, true, f->post_src);
        copy_addr(other, false, f->post_dst);
        f->post_sport = port(other, true);
        f->post_dport = port(other, false);
    }
    f->counted = nurs_ct_counters(m, dir, &f->packets, &f->octets);
    if (!f->counted)
        f->packets = f->octets = 0;
}

bool nurs_flows_from_ct(struct nurs_ct_msg *m, struct nurs_flow f[2])
{
    const struct nurs_ct_tuple *orig = nurs_ct_tuple(m, NURS_CT_ORIG),
                               *reply = nurs_ct_tuple(m, NURS_CT_REPLY);
    if (!orig || !reply || !orig->proto[CTA_PROTO_NUM])
        return false;
    uint8_t proto = nurs_ct_attr_u8(orig->proto[CTA_PROTO_NUM]);
    uint32_t status = 0, id = 0, mark = 0;
    nurs_ct_u32(m, CTA_STATUS, &status);
    nurs_ct_u32(m, CTA_ID, &id);
    nurs_ct_u32(m, CTA_MARK, &mark);
    bool nat = status & (IPS_SRC_NAT | IPS_DST_NAT);
    uint16_t zone = 0;
    if (!nurs_ct_zone(m, &zone) && orig->zone)
        zone = nurs_ct_attr_be16(orig->zone);
    for (int d = 0; d < 2; d++) {
        memset(&f[d], 0, sizeof f[d]);
        f[d].ip_version = m->family == AF_INET ? 4 : 6;
        f[d].proto = proto;
        f[d].nat = nat;
        f[d].flow_id = id;
        f[d].mark = mark;
        f[d].zone = f[d].vrf = zone;
        f[d].direction = (uint8_t)d;
        f[d].biflow_direction = (uint8_t)(d + 1);
        fill_direction(m, d ? NURS_CT_REPLY : NURS_CT_ORIG, d ? reply : orig, d ? orig : reply,
                       &f[d]);
    }
    const struct nurs_proc *initiator = nurs_ct_process(m, NURS_CT_ORIG);
    const struct nurs_proc *responder = nurs_ct_process(m, NURS_CT_REPLY);
    for (int d = 0; d < 2; d++) {
        f[d].src_proc = d ? responder : initiator;
        f[d].dst_proc = d ? initiator : responder;
        f[d].local_proc = initiator ? initiator : responder;
        f[d].initiator_octets = f[0].octets;
        f[d].initiator_packets = f[0].packets;
        f[d].responder_octets = f[1].octets;
        f[d].responder_packets = f[1].packets;
    }
    return true;
}
