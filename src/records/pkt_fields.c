#include "records/pkt_fields.h"

#include <stdio.h>
#include <string.h>

#include "core/addr.h"
#include "netlink/ct_msg.h"

const char *const nurs_pkt_field_names[NURS_PKTF_COUNT] = {
    [NURS_PKTF_FAMILY] = "family",
    [NURS_PKTF_PROTO] = "proto",
    [NURS_PKTF_PROTONUM] = "protonum",
    [NURS_PKTF_SRC] = "src",
    [NURS_PKTF_DST] = "dst",
    [NURS_PKTF_SPORT] = "sport",
    [NURS_PKTF_DPORT] = "dport",
    [NURS_PKTF_TYPE] = "type",
    [NURS_PKTF_CODE] = "code",
    [NURS_PKTF_ICMP_ID] = "icmp_id",
    [NURS_PKTF_ICMP_SEQ] = "icmp_seq",
    [NURS_PKTF_TTL] = "ttl",
    [NURS_PKTF_TOS] = "tos",
    [NURS_PKTF_FLOWLABEL] = "flowlabel",
    [NURS_PKTF_IP_LEN] = "ip_len",
    [NURS_PKTF_IP_ID] = "ip_id",
    [NURS_PKTF_DF] = "df",
    [NURS_PKTF_FRAG_OFFSET] = "frag_offset",
    [NURS_PKTF_FRAG_MORE] = "frag_more",
    [NURS_PKTF_FRAG_ID] = "frag_id",
    [NURS_PKTF_TCP_FLAGS] = "tcp_flags",
    [NURS_PKTF_SEQ] = "seq",
    [NURS_PKTF_ACK] = "ack",
    [NURS_PKTF_WINDOW] = "window",
    [NURS_PKTF_TCP_HDRLEN] = "tcp_hdrlen",
    [NURS_PKTF_UDP_LEN] = "udp_len",
    [NURS_PKTF_PAYLOAD_OFFSET] = "payload_offset",
    [NURS_PKTF_PAYLOAD_LEN] = "payload_len",
    [NURS_PKTF_CAPLEN] = "caplen",
    [NURS_PKTF_TCP_FLAGS_BITS] = "tcp_flags_bits",
};

static void emit_cstr(const struct nurs_emit *e, void *ctx, const char *key, const char *s)
{
    e->string(ctx, key, s, strlen(s));
}

static bool emit_proto(const struct nurs_pkt *p, const char *key, const struct nurs_emit *e,
                       void *ctx)
{
    uint8_t proto;
    if (!nurs_pkt_protonum(p, &proto))
        return false;
    const char *name = nurs_ct_proto_name(proto);
    if (name) {
        emit_cstr(e, ctx, key, name);
    } else {
        char num[4];
        int n = snprintf(num, sizeof num, "%u", proto);
        e->string(ctx, key, num, (size_t)n);
    }
    return true;
}

static bool emit_addr(const struct nurs_pkt *p, bool dst, const char *key,
                      const struct nurs_emit *e, void *ctx)
{
    const uint8_t *raw;
    char text[NURS_ADDR_TEXT_MAX];
    size_t n = nurs_pkt_addr(p, dst, &raw);
    if (n == 0 || !nurs_addr_text(raw, n, text, sizeof text))
        return false;
    emit_cstr(e, ctx, key, text);
    return true;
}

/* Callers compute `present` in a statement of its own: the value is only
 * set by that call, and argument evaluation order is unspecified. */
static bool emit_int(bool present, long long v, const char *key, const struct nurs_emit *e,
                     void *ctx)
{
    if (present)
        e->integer(ctx, key, v);
    return present;
}

/* Fields that only fragments have. */
static bool emit_frag(const struct nurs_pkt *p, enum nurs_pkt_field f, const char *key,
                      const struct nurs_emit *e, void *ctx)
{
    if (!p->fragment)
        return false;
    if (f == NURS_PKTF_FRAG_MORE)
        nurs_emit_bool(e, ctx, key, p->frag_more);
    else
        e->integer(ctx, key, f == NURS_PKTF_FRAG_ID ? p->frag_id : p->frag_offset);
    return true;
}

bool nurs_pkt_emit_field(const struct nurs_pkt *p, enum nurs_pkt_field f,
                         const struct nurs_emit *e, void *ctx)
{
    const char *key = nurs_pkt_field_names[f];
    uint8_t u8 = 0, u8b = 0;
    uint16_t u16 = 0, u16b = 0;
    uint32_t u32 = 0, u32b = 0;
    bool b = false, ok;
    char flags[10];

    switch (f) {
    case NURS_PKTF_FAMILY:
        if (!p->version)
            return false;
        emit_cstr(e, ctx, key, p->version == 4 ? "ipv4" : "ipv6");
        return true;
    case NURS_PKTF_PROTO:
        return emit_proto(p, key, e, ctx);
    case NURS_PKTF_PROTONUM:
        ok = nurs_pkt_protonum(p, &u8);
        return emit_int(ok, u8, key, e, ctx);
    case NURS_PKTF_SRC:
    case NURS_PKTF_DST:
        return emit_addr(p, f == NURS_PKTF_DST, key, e, ctx);
    case NURS_PKTF_SPORT:
    case NURS_PKTF_DPORT:
        ok = nurs_pkt_ports(p, &u16, &u16b);
        return emit_int(ok, f == NURS_PKTF_SPORT ? u16 : u16b, key, e, ctx);
    case NURS_PKTF_TYPE:
    case NURS_PKTF_CODE:
        ok = nurs_pkt_icmp(p, &u8, &u8b);
        return emit_int(ok, f == NURS_PKTF_TYPE ? u8 : u8b, key, e, ctx);
    case NURS_PKTF_ICMP_ID:
    case NURS_PKTF_ICMP_SEQ:
        ok = nurs_pkt_icmp_echo(p, &u16, &u16b);
        return emit_int(ok, f == NURS_PKTF_ICMP_ID ? u16 : u16b, key, e, ctx);
    case NURS_PKTF_TTL:
        ok = nurs_pkt_ttl(p, &u8);
        return emit_int(ok, u8, key, e, ctx);
    case NURS_PKTF_TOS:
        ok = nurs_pkt_tos(p, &u8);
        return emit_int(ok, u8, key, e, ctx);
    case NURS_PKTF_FLOWLABEL:
        ok = nurs_pkt_flowlabel(p, &u32);
        return emit_int(ok, u32, key, e, ctx);
    case NURS_PKTF_IP_LEN:
        return emit_int(p->l3 && p->ip_len, p->ip_len, key, e, ctx);
    case NURS_PKTF_IP_ID:
        ok = nurs_pkt_ip_id(p, &u16);
        return emit_int(ok, u16, key, e, ctx);
    case NURS_PKTF_DF:
        if (!nurs_pkt_df(p, &b))
            return false;
        nurs_emit_bool(e, ctx, key, b);
        return true;
    case NURS_PKTF_FRAG_OFFSET:
    case NURS_PKTF_FRAG_MORE:
    case NURS_PKTF_FRAG_ID:
        return emit_frag(p, f, key, e, ctx);
    case NURS_PKTF_TCP_FLAGS:
        if (!nurs_pkt_tcp_flags(p, &u16))
            return false;
        e->string(ctx, key, flags, nurs_pkt_tcp_flags_text(u16, flags));
        return true;
    case NURS_PKTF_TCP_FLAGS_BITS:
        ok = nurs_pkt_tcp_flags(p, &u16);
        return emit_int(ok, u16, key, e, ctx);
    case NURS_PKTF_SEQ:
        ok = nurs_pkt_tcp_seq(p, &u32);
        return emit_int(ok, u32, key, e, ctx);
    case NURS_PKTF_ACK:
        ok = nurs_pkt_tcp_ack(p, &u32);
        return emit_int(ok, u32, key, e, ctx);
    case NURS_PKTF_WINDOW:
        ok = nurs_pkt_tcp_window(p, &u16);
        return emit_int(ok, u16, key, e, ctx);
    case NURS_PKTF_TCP_HDRLEN:
        ok = nurs_pkt_tcp_hdrlen(p, &u8);
        return emit_int(ok, u8, key, e, ctx);
    case NURS_PKTF_UDP_LEN:
        ok = nurs_pkt_udp_len(p, &u16);
        return emit_int(ok, u16, key, e, ctx);
    case NURS_PKTF_PAYLOAD_OFFSET:
    case NURS_PKTF_PAYLOAD_LEN:
        ok = nurs_pkt_payload_span(p, &u32, &u32b);
        return emit_int(ok, f == NURS_PKTF_PAYLOAD_OFFSET ? u32 : u32b, key, e, ctx);
    case NURS_PKTF_CAPLEN:
        e->integer(ctx, key, p->caplen);
        return true;
    case NURS_PKTF_COUNT:
        break;
    }
    return false;
}

void nurs_pkt_emit_all(const struct nurs_pkt *p, const struct nurs_emit *e, void *ctx)
{
    for (int f = 0; f < NURS_PKTF_WALKED; f++)
        nurs_pkt_emit_field(p, (enum nurs_pkt_field)f, e, ctx);
}
