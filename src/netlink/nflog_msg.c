#include "netlink/nflog_msg.h"

#include "netlink/socket.h"

#include <arpa/inet.h>
#include <endian.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>

/* Minimum payload length of each attribute (nurs_nla_parse). */
static const int attr_min_len[NFULA_MAX + 1] = {
    [NFULA_PACKET_HDR] = sizeof(struct nfulnl_msg_packet_hdr),
    [NFULA_MARK] = 4,
    [NFULA_TIMESTAMP] = sizeof(struct nfulnl_msg_packet_timestamp),
    [NFULA_IFINDEX_INDEV] = 4,
    [NFULA_IFINDEX_OUTDEV] = 4,
    [NFULA_IFINDEX_PHYSINDEV] = 4,
    [NFULA_IFINDEX_PHYSOUTDEV] = 4,
    [NFULA_HWADDR] = sizeof(struct nfulnl_msg_packet_hw),
    [NFULA_UID] = 4,
    [NFULA_SEQ] = 4,
    [NFULA_SEQ_GLOBAL] = 4,
    [NFULA_GID] = 4,
    [NFULA_HWTYPE] = 2,
    [NFULA_HWLEN] = 2,
    [NFULA_CT] = NURS_NLA_NESTED,
    [NFULA_CT_INFO] = 4,
    [NFULA_VLAN] = NURS_NLA_NESTED,
};

/* The attributes after the nfgenmsg. Every attribute must lie within the
 * message: one that does not is malformed. */
static bool parse_attrs(const struct nlmsghdr *nlh, const struct nlattr **tb)
{
    size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
    return nurs_nla_parse((const uint8_t *)nlh + off, nlh->nlmsg_len > off ? nlh->nlmsg_len - off : 0,
                          tb, NFULA_MAX, attr_min_len, true);
}

bool nurs_nflog_msg_is_packet(const struct nlmsghdr *nlh)
{
    return NFNL_SUBSYS_ID(nlh->nlmsg_type) == NFNL_SUBSYS_ULOG &&
           NFNL_MSG_TYPE(nlh->nlmsg_type) == NFULNL_MSG_PACKET;
}

int nurs_nflog_msg_parse(struct nurs_nflog_msg *m, const struct nlmsghdr *nlh, const char **why)
{
    memset(m->tb, 0, sizeof m->tb);
    m->nlh = nlh;
    m->ct_parsed = m->ct_ok = false;
    if (!nurs_nflog_msg_is_packet(nlh)) {
        *why = "not an NFLOG packet message";
        return -1;
    }
    if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(struct nfgenmsg)) {
        *why = "message shorter than its nfgenmsg header";
        return -1;
    }
    const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
    m->family = nfg->nfgen_family;
    m->group = ntohs(nfg->res_id);
    if (!parse_attrs(nlh, m->tb)) {
        *why = "malformed NFLOG attribute";
        return -1;
    }
    return 0;
}

const uint8_t *nurs_nflog_payload(const struct nurs_nflog_msg *m, size_t *len)
{
    const struct nlattr *a = m->tb[NFULA_PAYLOAD];
    *len = a ? mnl_attr_get_payload_len(a) : 0;
    return a ? mnl_attr_get_payload(a) : NULL;
}

bool nurs_nflog_u32(const struct nurs_nflog_msg *m, int nfula, uint32_t *v)
{
    if (nfula < 0 || nfula > NFULA_MAX || !m->tb[nfula] || attr_min_len[nfula] != 4)
        return false;
    uint32_t be;
    memcpy(&be, mnl_attr_get_payload(m->tb[nfula]), 4);
    *v = ntohl(be);
    return true;
}

bool nurs_nflog_u16(const struct nurs_nflog_msg *m, int nfula, uint16_t *v)
{
    if (nfula < 0 || nfula > NFULA_MAX || !m->tb[nfula] || attr_min_len[nfula] != 2)
        return false;
    uint16_t be;
    memcpy(&be, mnl_attr_get_payload(m->tb[nfula]), 2);
    *v = ntohs(be);
    return true;
}

static const struct nfulnl_msg_packet_hdr *packet_hdr(const struct nurs_nflog_msg *m)
{
    const struct nlattr *a = m->tb[NFULA_PACKET_HDR];
    return a ? mnl_attr_get_payload(a) : NULL;
}

bool nurs_nflog_hook(const struct nurs_nflog_msg *m, uint8_t *hook)
{
    const struct nfulnl_msg_packet_hdr *h = packet_hdr(m);
    if (!h)
        return false;
    *hook = h->hook;
    return true;
}

bool nurs_nflog_hw_protocol(const struct nurs_nflog_msg *m, uint16_t *ethertype)
{
    const struct nfulnl_msg_packet_hdr *h = packet_hdr(m);
    if (!h)
        return false;
    *ethertype = ntohs(h->hw_protocol);
    return true;
}

enum nurs_pkt_l3 nurs_nflog_l3_hint(const struct nurs_nflog_msg *m)
{
    uint16_t ethertype;
    switch (m->family) {
    case NFPROTO_IPV4:
        return NURS_PKT_L3_IPV4;
    case NFPROTO_IPV6:
        return NURS_PKT_L3_IPV6;
    case NFPROTO_ARP:
        return NURS_PKT_L3_NONE;
    default:
        /* bridge, netdev: the frame's protocol says */
        if (!nurs_nflog_hw_protocol(m, &ethertype))
            return NURS_PKT_L3_ANY;
        if (ethertype == 0x0800)
            return NURS_PKT_L3_IPV4;
        if (ethertype == 0x86dd)
            return NURS_PKT_L3_IPV6;
        return NURS_PKT_L3_NONE;
    }
}

bool nurs_nflog_prefix(const struct nurs_nflog_msg *m, const char **s, size_t *len)
{
    const struct nlattr *a = m->tb[NFULA_PREFIX];
    if (!a)
        return false;
    *s = mnl_attr_get_payload(a);
    *len = strnlen(*s, mnl_attr_get_payload_len(a));
    return true;
}

uint64_t nurs_nflog_timestamp_ns(const struct nurs_nflog_msg *m, bool *from_kernel)
{
    const struct nlattr *a = m->tb[NFULA_TIMESTAMP];
    *from_kernel = a != NULL;
    if (!a)
        return m->recv_ns;
    uint64_t sec, usec;
    memcpy(&sec, mnl_attr_get_payload(a), 8);
    memcpy(&usec, (const uint8_t *)mnl_attr_get_payload(a) + 8, 8);
    return be64toh(sec) * 1000000000u + be64toh(usec) * 1000u;
}

bool nurs_nflog_hwaddr(const struct nurs_nflog_msg *m, const uint8_t **addr, size_t *len)
{
    const struct nlattr *a = m->tb[NFULA_HWADDR];
    if (!a)
        return false;
    const struct nfulnl_msg_packet_hw *hw = mnl_attr_get_payload(a);
    size_t n = ntohs(hw->hw_addrlen);
    if (n == 0 || n > sizeof hw->hw_addr)
        return false;
    *addr = hw->hw_addr;
    *len = n;
    return true;
}

bool nurs_nflog_bytes(const struct nurs_nflog_msg *m, int nfula, const uint8_t **b, size_t *len)
{
    if (nfula < 0 || nfula > NFULA_MAX || !m->tb[nfula] || attr_min_len[nfula] != 0)
        return false;
    *b = mnl_attr_get_payload(m->tb[nfula]);
    *len = mnl_attr_get_payload_len(m->tb[nfula]);
    return true;
}

bool nurs_nflog_vlan(const struct nurs_nflog_msg *m, uint16_t *tci)
{
    static const int min_len[NFULA_VLAN_MAX + 1] = {[NFULA_VLAN_TCI] = 2};
    const struct nlattr *tb[NFULA_VLAN_MAX + 1] = {0};
    if (!m->tb[NFULA_VLAN] ||
        !nurs_nla_parse_nested(m->tb[NFULA_VLAN], tb, NFULA_VLAN_MAX, min_len, false) ||
        !tb[NFULA_VLAN_TCI])
        return false;
    *tci = ntohs(mnl_attr_get_u16(tb[NFULA_VLAN_TCI]));
    return true;
}

bool nurs_nflog_ctinfo(const struct nurs_nflog_msg *m, uint32_t *ctinfo)
{
    return nurs_nflog_u32(m, NFULA_CT_INFO, ctinfo);
}

/* The address family of the logged packet, for its conntrack entry:
 * bridge and netdev tables log both IPv4 and IPv6. */
static uint8_t packet_af(const struct nurs_nflog_msg *m)
{
    size_t len;
    const uint8_t *p = nurs_nflog_payload(m, &len);
    if (m->family == NFPROTO_IPV6 || (m->family != NFPROTO_IPV4 && len && p[0] >> 4 == 6))
        return AF_INET6;
    return AF_INET;
}

struct nurs_ct_msg *nurs_nflog_ct(struct nurs_nflog_msg *m)
{
    if (!m->ct_parsed) {
        const char *why;
        m->ct_parsed = true;
        m->ct_ok = m->tb[NFULA_CT] &&
                   nurs_ct_msg_parse_nest(&m->ct, m->tb[NFULA_CT], packet_af(m), &why) == 0;
    }
    return m->ct_ok ? &m->ct : NULL;
}

const char *nurs_nflog_hook_name(uint8_t family, uint8_t hook)
{
    static const char *const inet[] = {"prerouting", "input", "forward", "output",
                                       "postrouting", "brouting"};
    static const char *const arp[] = {"input", "output", "forward"};
    static const char *const netdev[] = {"ingress", "egress"};
    switch (family) {
    case NFPROTO_ARP:
        return hook < 3 ? arp[hook] : NULL;
    case NFPROTO_NETDEV:
        return hook < 2 ? netdev[hook] : NULL;
    case NFPROTO_BRIDGE:
        return hook < 6 ? inet[hook] : NULL;
    default:
        return hook < 5 ? inet[hook] : NULL;
    }
}

const char *nurs_nfproto_name(uint8_t family)
{
    switch (family) {
    case NFPROTO_INET: return "inet";
    case NFPROTO_IPV4: return "ipv4";
    case NFPROTO_ARP: return "arp";
    case NFPROTO_NETDEV: return "netdev";
    case NFPROTO_BRIDGE: return "bridge";
    case NFPROTO_IPV6: return "ipv6";
    default: return NULL;
    }
}
