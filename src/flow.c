#include "flow.h"

#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "attribution.h"

/* out is zeroed by the caller */
static void copy_addr(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst, uint8_t out[16])
{
    const void *raw;
    size_t n = nurs_ct_addr_raw(m, dir, dst, &raw);
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

static uint64_t port(struct nurs_ct_msg *m, enum nurs_ct_dir dir, bool dst)
{
    uint16_t v = 0;
    nurs_ct_port(m, dir, dst, &v);
    return v;
}

static void fill_direction(struct nurs_ct_msg *m, enum nurs_ct_dir dir, struct nurs_flow *f)
{
    enum nurs_ct_dir other = dir == NURS_CT_ORIG ? NURS_CT_REPLY : NURS_CT_ORIG;
    copy_addr(m, dir, false, f->src);
    copy_addr(m, dir, true, f->dst);
    f->sport = port(m, dir, false);
    f->dport = port(m, dir, true);
    uint16_t icmp_id;
    f->icmp = nurs_ct_icmp(m, dir, &f->icmp_type, &f->icmp_code, &icmp_id);
    if (f->nat) {
        /* A packet of this direction leaves the box with the addresses that
         * the other direction's tuple expects to answer, swapped. */
        copy_addr(m, other, true, f->post_src);
        copy_addr(m, other, false, f->post_dst);
        f->post_sport = port(m, other, true);
        f->post_dport = port(m, other, false);
    }
    f->counted = nurs_ct_counters(m, dir, &f->packets, &f->octets);
    if (!f->counted)
        f->packets = f->octets = 0;
}

bool nurs_flows_from_ct(struct nurs_ct_msg *m, struct nurs_flow f[2])
{
    uint8_t proto;
    if (!nurs_ct_protonum(m, &proto) || !nurs_ct_tuple(m, NURS_CT_ORIG) ||
        !nurs_ct_tuple(m, NURS_CT_REPLY))
        return false;
    uint32_t status = 0, id = 0, mark = 0;
    nurs_ct_u32(m, CTA_STATUS, &status);
    nurs_ct_u32(m, CTA_ID, &id);
    nurs_ct_u32(m, CTA_MARK, &mark);
    bool nat = status & (IPS_SRC_NAT | IPS_DST_NAT);
    for (int d = 0; d < 2; d++) {
        memset(&f[d], 0, sizeof f[d]);
        f[d].ip_version = m->family == AF_INET ? 4 : 6;
        f[d].proto = proto;
        f[d].nat = nat;
        f[d].flow_id = id;
        f[d].mark = mark;
        f[d].direction = (uint8_t)d;
        f[d].biflow_direction = (uint8_t)(d + 1);
        fill_direction(m, d ? NURS_CT_REPLY : NURS_CT_ORIG, &f[d]);
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
