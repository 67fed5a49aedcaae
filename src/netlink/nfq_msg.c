#include "netlink/nfq_msg.h"

#include "netlink/socket.h"

#include <arpa/inet.h>
#include <endian.h>
#include <string.h>

#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

bool nurs_nfq_msg_is_packet(const struct nlmsghdr *nlh)
{
    return NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_QUEUE &&
           NFNL_MSG_TYPE(nlh->nlmsg_type) == NFQNL_MSG_PACKET;
}

/* Minimum payload length of each attribute we read (nurs_nla_parse); an
 * attribute shorter than that makes the message malformed. */
static const int attr_min_len[NFQA_MAX + 1] = {
    [NFQA_PACKET_HDR] = sizeof(struct nfqnl_msg_packet_hdr),
    [NFQA_TIMESTAMP] = sizeof(struct nfqnl_msg_packet_timestamp),
    [NFQA_HWADDR] = sizeof(struct nfqnl_msg_packet_hw),
    [NFQA_MARK] = 4,
    [NFQA_IFINDEX_INDEV] = 4,
    [NFQA_IFINDEX_OUTDEV] = 4,
    [NFQA_IFINDEX_PHYSINDEV] = 4,
    [NFQA_IFINDEX_PHYSOUTDEV] = 4,
    [NFQA_CT_INFO] = 4,
    [NFQA_CAP_LEN] = 4,
    [NFQA_SKB_INFO] = 4,
    [NFQA_UID] = 4,
    [NFQA_GID] = 4,
    [NFQA_PRIORITY] = 4,
    [NFQA_CT] = NURS_NLA_NESTED,
    [NFQA_EXP] = NURS_NLA_NESTED,
    [NFQA_VLAN] = NURS_NLA_NESTED,
};

static const int vlan_min_len[NFQA_VLAN_MAX + 1] = {
    [NFQA_VLAN_PROTO] = 2,
    [NFQA_VLAN_TCI] = 2,
};

int nurs_nfq_msg_parse(struct nurs_nfq_msg *m, const struct nlmsghdr *nlh, bool *has_id,
                       const char **why)
{
    memset(m, 0, sizeof *m);
    m->nlh = nlh;
    *has_id = false;
    if (!nurs_nfq_msg_is_packet(nlh)) {
        *why = "not an NFQUEUE packet message";
        return -1;
    }
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg)) {
        *why = "message shorter than its nfgenmsg header";
        return -1;
    }
    const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
    m->family = nfg->nfgen_family;
    m->queue = ntohs(nfg->res_id);
    /* The id comes first so that a packet with a bad attribute further on
     * still gets a verdict instead of waiting in the kernel. An attribute
     * that runs past nlmsg_len is malformed (libmnl let the last one run
     * into the padding after it, past the datagram: a heap overread found
     * by fuzz_nfq_msg). */
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    bool ok = nurs_nla_parse((const char *)nlh + off, nlh->nlmsg_len - off, m->tb, NFQA_MAX,
                             attr_min_len, true);
    if (m->tb[NFQA_PACKET_HDR]) {
        const struct nfqnl_msg_packet_hdr *ph = mnl_attr_get_payload(m->tb[NFQA_PACKET_HDR]);
        m->id = ntohl(ph->packet_id);
        m->hw_protocol = ntohs(ph->hw_protocol);
        m->hook = ph->hook;
        *has_id = true;
    }
    if (!ok) {
        *why = "malformed NFQUEUE attribute";
        return -1;
    }
    if (!*has_id) {
        *why = "packet message without a packet header";
        return -1;
    }
    if (m->tb[NFQA_VLAN] &&
        !nurs_nla_parse_nested(m->tb[NFQA_VLAN], m->vlan, NFQA_VLAN_MAX, vlan_min_len, false)) {
        *why = "malformed VLAN attribute";
        return -1;
    }
    return 0;
}

bool nurs_nfq_salvage_id(const void *data, size_t len, uint16_t *queue, uint32_t *id)
{
    const struct nlmsghdr *nlh = data;
    size_t head = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    if (len < head || !nurs_nfq_msg_is_packet(nlh))
        return false;
    const struct nfgenmsg *nfg = (const struct nfgenmsg *)((const char *)data + NLMSG_HDRLEN);
    size_t off = head;
    while (len - off >= sizeof(struct nlattr)) {
        const struct nlattr *a = (const struct nlattr *)((const char *)data + off);
        if (a->nla_len < sizeof *a || a->nla_len > len - off)
            return false;
        if ((a->nla_type & NLA_TYPE_MASK) == NFQA_PACKET_HDR &&
            a->nla_len >= sizeof *a + sizeof(struct nfqnl_msg_packet_hdr)) {
            const struct nfqnl_msg_packet_hdr *ph = (const void *)(a + 1);
            *queue = ntohs(nfg->res_id);
            *id = ntohl(ph->packet_id);
            return true;
        }
        size_t step = NLA_ALIGN(a->nla_len);
        if (step > len - off)
            return false;
        off += step;
    }
    return false;
}

bool nurs_nfq_u32(const struct nurs_nfq_msg *m, int nfqa, uint32_t *v)
{
    if (nfqa < 0 || nfqa > NFQA_MAX || !m->tb[nfqa])
        return false;
    *v = ntohl(mnl_attr_get_u32(m->tb[nfqa]));
    return true;
}

bool nurs_nfq_payload(const struct nurs_nfq_msg *m, const uint8_t **data, size_t *len)
{
    if (!m->tb[NFQA_PAYLOAD])
        return false;
    *data = mnl_attr_get_payload(m->tb[NFQA_PAYLOAD]);
    *len = mnl_attr_get_payload_len(m->tb[NFQA_PAYLOAD]);
    return true;
}

bool nurs_nfq_timestamp(const struct nurs_nfq_msg *m, uint64_t *sec, uint64_t *usec)
{
    if (!m->tb[NFQA_TIMESTAMP])
        return false;
    struct nfqnl_msg_packet_timestamp ts;
    memcpy(&ts, mnl_attr_get_payload(m->tb[NFQA_TIMESTAMP]), sizeof ts);
    *sec = be64toh(ts.sec);
    *usec = be64toh(ts.usec);
    return true;
}

bool nurs_nfq_hwaddr(const struct nurs_nfq_msg *m, const uint8_t **addr, size_t *len)
{
    if (!m->tb[NFQA_HWADDR])
        return false;
    const struct nfqnl_msg_packet_hw *hw = mnl_attr_get_payload(m->tb[NFQA_HWADDR]);
    size_t n = ntohs(hw->hw_addrlen);
    if (n == 0 || n > sizeof hw->hw_addr)
        return false;
    *addr = hw->hw_addr;
    *len = n;
    return true;
}

bool nurs_nfq_vlan(const struct nurs_nfq_msg *m, uint16_t *proto, uint16_t *tci)
{
    if (!m->vlan[NFQA_VLAN_PROTO] || !m->vlan[NFQA_VLAN_TCI])
        return false;
    *proto = ntohs(mnl_attr_get_u16(m->vlan[NFQA_VLAN_PROTO]));
    *tci = ntohs(mnl_attr_get_u16(m->vlan[NFQA_VLAN_TCI]));
    return true;
}

const char *nurs_nfq_secctx(const struct nurs_nfq_msg *m, size_t *len)
{
    if (!m->tb[NFQA_SECCTX])
        return NULL;
    const char *s = mnl_attr_get_payload(m->tb[NFQA_SECCTX]);
    size_t n = mnl_attr_get_payload_len(m->tb[NFQA_SECCTX]);
    /* The kernel counts the terminating NUL; do not trust it to be there. */
    size_t used = strnlen(s, n);
    *len = used;
    return s;
}

bool nurs_nfq_ct_u32(const struct nurs_nfq_msg *m, int cta, uint32_t *v)
{
    if (!m->tb[NFQA_CT])
        return false;
    /* mnl_attr_for_each_nested stops at the end of the nest and at any
     * attribute that does not fit in it. */
    const struct nlattr *a;
    mnl_attr_for_each_nested(a, m->tb[NFQA_CT])
    {
        if (mnl_attr_get_type(a) == cta && mnl_attr_validate(a, MNL_TYPE_U32) == 0) {
            *v = ntohl(mnl_attr_get_u32(a));
            return true;
        }
    }
    return false;
}

const char *nurs_nfq_hook_name(uint8_t family, uint8_t hook)
{
    (void)family; /* inet, ipv4, ipv6 and bridge number their hooks alike */
    static const char *const names[] = {"prerouting", "input", "forward", "output",
                                        "postrouting"};
    return hook < sizeof names / sizeof *names ? names[hook] : NULL;
}

const char *nurs_nfq_ctinfo_name(uint32_t ctinfo)
{
    /* enum ip_conntrack_info */
    static const char *const names[] = {"established", "related", "new", "established_reply",
                                        "related_reply"};
    return ctinfo < sizeof names / sizeof *names ? names[ctinfo] : NULL;
}

const char *nurs_nfq_verdict_name(uint32_t verdict)
{
    switch (verdict & 0xffff) {
    case NURS_NFQ_DROP:
        return "drop";
    case NURS_NFQ_ACCEPT:
        return "accept";
    case NURS_NFQ_QUEUE:
        return "queue";
    case NURS_NFQ_REPEAT:
        return "repeat";
    default:
        return "?";
    }
}

/* ---- messages we send ---- */

static struct nlmsghdr *put_header(void *buf, uint16_t queue, int type)
{
    memset(buf, 0, NURS_NFQ_MSG_MAX);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
    nlh->nlmsg_flags = NLM_F_REQUEST;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->nfgen_family = AF_UNSPEC;
    nfg->version = NFNETLINK_V0;
    nfg->res_id = htons(queue);
    return nlh;
}

struct nlmsghdr *nurs_nfq_put_cmd(void *buf, uint16_t queue, uint8_t cmd)
{
    struct nlmsghdr *nlh = put_header(buf, queue, NFQNL_MSG_CONFIG);
    struct nfqnl_msg_config_cmd c = {.command = cmd, .pf = htons(AF_UNSPEC)};
    mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof c, &c);
    return nlh;
}

struct nlmsghdr *nurs_nfq_put_config(void *buf, uint16_t queue, const struct nurs_nfq_config *c)
{
    struct nlmsghdr *nlh = put_header(buf, queue, NFQNL_MSG_CONFIG);
    if (c->set_params) {
        struct nfqnl_msg_config_params p = {.copy_range = htonl(c->copy_range),
                                            .copy_mode = c->copy_mode};
        mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof p, &p);
    }
    if (c->set_maxlen)
        mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(c->maxlen));
    if (c->mask) {
        mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(c->flags & c->mask));
        mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(c->mask));
    }
    return nlh;
}

static void put_decision(struct nlmsghdr *nlh, uint32_t id, const struct nurs_nfq_decision *d)
{
    struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(d->verdict), .id = htonl(id)};
    mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof vh, &vh);
    if (d->set_mark)
        mnl_attr_put_u32(nlh, NFQA_MARK, htonl(d->mark));
}

struct nlmsghdr *nurs_nfq_put_verdict(void *buf, uint16_t queue, uint32_t id,
                                      const struct nurs_nfq_decision *d)
{
    struct nlmsghdr *nlh = put_header(buf, queue, NFQNL_MSG_VERDICT);
    put_decision(nlh, id, d);
    if (d->set_ctmark) {
        struct nlattr *ct = mnl_attr_nest_start(nlh, NFQA_CT);
        mnl_attr_put_u32(nlh, CTA_MARK, htonl(d->ctmark));
        mnl_attr_nest_end(nlh, ct);
    }
    return nlh;
}

struct nlmsghdr *nurs_nfq_put_verdict_batch(void *buf, uint16_t queue, uint32_t id,
                                            const struct nurs_nfq_decision *d)
{
    struct nlmsghdr *nlh = put_header(buf, queue, NFQNL_MSG_VERDICT_BATCH);
    put_decision(nlh, id, d);
    return nlh;
}
