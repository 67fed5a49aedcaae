#include "netlink/packet.h"

#include <string.h>

#include <netinet/in.h>

enum {
    IPV4_HDR = 20,
    IPV6_HDR = 40,
    TCP_HDR = 20,
    SMALL_L4_HDR = 8, /* UDP, ICMP, ICMPv6 */
};

static uint16_t be16(const uint8_t *b) { return (uint16_t)(b[0] << 8 | b[1]); }

static uint32_t be32(const uint8_t *b)
{
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* n bytes at off are inside the packet and were captured. */
static bool have(const struct nurs_pkt *p, uint32_t off, uint32_t n)
{
    return off <= p->end && n <= p->end - off;
}

/* Shrinks the readable part to what the IP header says the packet is,
 * so that bytes behind it (padding) are never taken for the packet. */
static void clamp_to_ip_len(struct nurs_pkt *p)
{
    if (p->ip_len && p->ip_len < p->end)
        p->end = p->ip_len;
}

static void parse_ipv4(struct nurs_pkt *p)
{
    const uint8_t *d = p->data;
    uint32_t ihl = (uint32_t)(d[0] & 0x0f) * 4;
    if (p->caplen < IPV4_HDR || ihl < IPV4_HDR)
        return;
    p->l3 = true;
    p->ip_len = be16(d + 2);
    p->proto = d[9];
    p->has_proto = true;
    uint16_t frag = be16(d + 6);
    p->frag_offset = (uint32_t)(frag & 0x1fff) * 8;
    p->frag_more = frag & 0x2000;
    p->fragment = p->frag_more || p->frag_offset;
    p->frag_id = be16(d + 4);
    p->l4_off = ihl;
    /* A zero length is what segmentation offload leaves in big packets:
     * unknown, not malformed. Shorter than the header is malformed. */
    if (p->ip_len != 0 && p->ip_len < ihl)
        return;
    clamp_to_ip_len(p);
    p->has_l4 = p->frag_offset == 0;
}

static bool is_ipv6_exthdr(uint8_t nh)
{
    return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_FRAGMENT ||
           nh == IPPROTO_DSTOPTS || nh == IPPROTO_AH;
}

static void found_upper(struct nurs_pkt *p, uint8_t proto, uint32_t off)
{
    p->proto = proto;
    p->has_proto = true;
    p->l4_off = off;
    p->has_l4 = p->frag_offset == 0 && proto != IPPROTO_NONE;
}

static void parse_ipv6(struct nurs_pkt *p)
{
    const uint8_t *d = p->data;
    if (p->caplen < IPV6_HDR)
        return;
    p->l3 = true;
    uint16_t plen = be16(d + 4);
    p->ip_len = plen ? IPV6_HDR + (uint32_t)plen : 0; /* 0: jumbogram or offload */
    clamp_to_ip_len(p);
    uint8_t nh = d[6];
    uint32_t off = IPV6_HDR;
    for (int n = 0; is_ipv6_exthdr(nh); n++) {
        if (n == NURS_PKT_MAX_EXTHDRS || !have(p, off, 2))
            return; /* upper protocol unknown: no L4 view */
        uint32_t hdrlen;
        if (nh == IPPROTO_FRAGMENT) {
            if (!have(p, off, 8))
                return;
            uint16_t frag = be16(d + off + 2);
            p->fragment = true;
            p->frag_offset = frag & 0xfff8;
            p->frag_more = frag & 1;
            p->frag_id = be32(d + off + 4);
            hdrlen = 8;
            if (p->frag_offset != 0) {
                /* What follows is the middle of the packet, not headers. */
                found_upper(p, d[off], off + hdrlen);
                return;
            }
        } else if (nh == IPPROTO_AH) {
            hdrlen = ((uint32_t)d[off + 1] + 2) * 4;
        } else {
            hdrlen = ((uint32_t)d[off + 1] + 1) * 8;
        }
        nh = d[off];
        off += hdrlen;
    }
    found_upper(p, nh, off);
}

void nurs_pkt_parse(struct nurs_pkt *p, const void *data, size_t len, enum nurs_pkt_l3 hint)
{
    memset(p, 0, sizeof *p);
    p->data = data;
    p->caplen = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    p->end = p->caplen;
    if (hint == NURS_PKT_L3_NONE || p->caplen == 0)
        return;
    uint8_t version = p->data[0] >> 4;
    if ((hint == NURS_PKT_L3_IPV4 && version != 4) || (hint == NURS_PKT_L3_IPV6 && version != 6))
        return;
    if (version == 4) {
        p->version = 4;
        parse_ipv4(p);
    } else if (version == 6) {
        p->version = 6;
        parse_ipv6(p);
    }
}

size_t nurs_pkt_addr(const struct nurs_pkt *p, bool dst, const uint8_t **bytes)
{
    if (!p->l3)
        return 0;
    if (p->version == 4) {
        *bytes = p->data + (dst ? 16 : 12);
        return 4;
    }
    *bytes = p->data + (dst ? 24 : 8);
    return 16;
}

bool nurs_pkt_ttl(const struct nurs_pkt *p, uint8_t *v)
{
    if (!p->l3)
        return false;
    *v = p->data[p->version == 4 ? 8 : 7];
    return true;
}

bool nurs_pkt_tos(const struct nurs_pkt *p, uint8_t *v)
{
    if (!p->l3)
        return false;
    if (p->version == 4)
        *v = p->data[1];
    else
        *v = (uint8_t)(be16(p->data) >> 4);
    return true;
}

bool nurs_pkt_flowlabel(const struct nurs_pkt *p, uint32_t *v)
{
    if (!p->l3 || p->version != 6)
        return false;
    *v = be32(p->data) & 0xfffff;
    return true;
}

bool nurs_pkt_ip_id(const struct nurs_pkt *p, uint16_t *v)
{
    if (!p->l3 || p->version != 4)
        return false;
    *v = be16(p->data + 4);
    return true;
}

bool nurs_pkt_df(const struct nurs_pkt *p, bool *v)
{
    if (!p->l3 || p->version != 4)
        return false;
    *v = p->data[6] & 0x40;
    return true;
}

bool nurs_pkt_protonum(const struct nurs_pkt *p, uint8_t *v)
{
    if (!p->has_proto)
        return false;
    *v = p->proto;
    return true;
}

/* The L4 header of protocol `proto` has n bytes at offset off captured. */
static bool l4_has(const struct nurs_pkt *p, uint8_t proto, uint32_t off, uint32_t n)
{
    return p->has_l4 && p->proto == proto && have(p, p->l4_off + off, n);
}

static bool has_ports(uint8_t proto)
{
    return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_UDPLITE ||
           proto == IPPROTO_SCTP || proto == IPPROTO_DCCP;
}

bool nurs_pkt_ports(const struct nurs_pkt *p, uint16_t *sport, uint16_t *dport)
{
    if (!has_ports(p->proto) || !l4_has(p, p->proto, 0, 4))
        return false;
    *sport = be16(p->data + p->l4_off);
    *dport = be16(p->data + p->l4_off + 2);
    return true;
}

bool nurs_pkt_tcp_seq(const struct nurs_pkt *p, uint32_t *v)
{
    if (!l4_has(p, IPPROTO_TCP, 4, 4))
        return false;
    *v = be32(p->data + p->l4_off + 4);
    return true;
}

bool nurs_pkt_tcp_ack(const struct nurs_pkt *p, uint32_t *v)
{
    if (!l4_has(p, IPPROTO_TCP, 8, 4))
        return false;
    *v = be32(p->data + p->l4_off + 8);
    return true;
}

bool nurs_pkt_tcp_flags(const struct nurs_pkt *p, uint16_t *v)
{
    if (!l4_has(p, IPPROTO_TCP, 12, 2))
        return false;
    *v = be16(p->data + p->l4_off + 12) & 0x1ff;
    return true;
}

bool nurs_pkt_tcp_window(const struct nurs_pkt *p, uint16_t *v)
{
    if (!l4_has(p, IPPROTO_TCP, 14, 2))
        return false;
    *v = be16(p->data + p->l4_off + 14);
    return true;
}

bool nurs_pkt_tcp_hdrlen(const struct nurs_pkt *p, uint8_t *v)
{
    if (!l4_has(p, IPPROTO_TCP, 12, 1))
        return false;
    *v = (uint8_t)((p->data[p->l4_off + 12] >> 4) * 4);
    return true;
}

bool nurs_pkt_udp_len(const struct nurs_pkt *p, uint16_t *v)
{
    if (!l4_has(p, IPPROTO_UDP, 4, 2))
        return false;
    *v = be16(p->data + p->l4_off + 4);
    return true;
}

static bool is_icmp(uint8_t proto) { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }

bool nurs_pkt_icmp(const struct nurs_pkt *p, uint8_t *type, uint8_t *code)
{
    if (!is_icmp(p->proto) || !l4_has(p, p->proto, 0, 2))
        return false;
    *type = p->data[p->l4_off];
    *code = p->data[p->l4_off + 1];
    return true;
}

static bool icmp_has_echo_ids(uint8_t proto, uint8_t type)
{
    if (proto == IPPROTO_ICMPV6)
        return type == 128 || type == 129;
    /* echo reply, echo, timestamp and reply, information and reply,
     * address mask and reply */
    return type == 0 || (type >= 8 && type <= 18 && type != 9 && type != 10 && type != 11 &&
                         type != 12);
}

bool nurs_pkt_icmp_echo(const struct nurs_pkt *p, uint16_t *id, uint16_t *seq)
{
    if (!is_icmp(p->proto) || !l4_has(p, p->proto, 0, SMALL_L4_HDR) ||
        !icmp_has_echo_ids(p->proto, p->data[p->l4_off]))
        return false;
    *id = be16(p->data + p->l4_off + 4);
    *seq = be16(p->data + p->l4_off + 6);
    return true;
}

bool nurs_pkt_payload_span(const struct nurs_pkt *p, uint32_t *offset, uint32_t *len)
{
    if (!p->has_l4)
        return false;
    /* Where the packet ends by its own account; the capture may stop
     * earlier, the declared length must not be taken from it then. */
    uint32_t ip_end = p->ip_len ? p->ip_len : p->caplen;
    uint32_t off = p->l4_off;
    uint16_t udp_len = 0;
    switch (p->proto) {
    case IPPROTO_TCP: {
        uint8_t hdrlen;
        if (!nurs_pkt_tcp_hdrlen(p, &hdrlen) || hdrlen < TCP_HDR)
            return false;
        off += hdrlen;
        break;
    }
    case IPPROTO_UDP:
        if (!nurs_pkt_udp_len(p, &udp_len))
            return false;
        off += SMALL_L4_HDR;
        break;
    case IPPROTO_UDPLITE:
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
        off += SMALL_L4_HDR;
        break;
    default:
        break;
    }
    if (off > ip_end)
        return false;
    *offset = off;
    /* UDP says its own length (IPv6 jumbograms put 0 there). */
    *len = udp_len >= SMALL_L4_HDR ? (uint32_t)udp_len - SMALL_L4_HDR : ip_end - off;
    return true;
}

bool nurs_pkt_payload(const struct nurs_pkt *p, const uint8_t **bytes, size_t *len)
{
    uint32_t off, claimed;
    if (!nurs_pkt_payload_span(p, &off, &claimed))
        return false;
    uint32_t avail = off < p->end ? p->end - off : 0;
    *bytes = p->data + (off < p->end ? off : p->end);
    *len = claimed < avail ? claimed : avail;
    return true;
}

size_t nurs_pkt_tcp_flags_text(uint16_t flags, char *buf)
{
    /* tcpdump's letters, in bit order from FIN up. */
    static const char letters[] = "FSRP.UEWe";
    size_t n = 0;
    for (unsigned bit = 0; bit < 9; bit++)
        if (flags & (1u << bit))
            buf[n++] = letters[bit];
    if (n == 0) {
        memcpy(buf, "none", 5);
        return 4;
    }
    buf[n] = '\0';
    return n;
}
