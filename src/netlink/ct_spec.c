#include "netlink/ct_spec.h"

#include <string.h>
#include <sys/socket.h>

#include <netinet/in.h>

static size_t addr_len(uint8_t family) { return family == AF_INET6 ? 16 : 4; }

static bool has_ports(uint8_t proto)
{
    switch (proto) {
    case IPPROTO_TCP: case IPPROTO_UDP: case IPPROTO_UDPLITE: case IPPROTO_SCTP:
    case IPPROTO_DCCP: case IPPROTO_GRE:
        return true;
    default:
        return false;
    }
}

static bool is_icmp(uint8_t proto) { return proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6; }

bool nurs_ct_tuple_spec_full(const struct nurs_ct_spec *s, const struct nurs_ct_tuple_spec *t)
{
    unsigned need = NURS_CTS_SRC | NURS_CTS_DST;
    if (!(s->has & NURS_CTS_FAMILY) || !(s->has & NURS_CTS_PROTO))
        return false;
    if (has_ports(s->proto))
        need |= NURS_CTS_SPORT | NURS_CTS_DPORT;
    else if (is_icmp(s->proto))
        need |= NURS_CTS_ICMP_TYPE | NURS_CTS_ICMP_CODE | NURS_CTS_ICMP_ID;
    else
        return false; /* libnetfilter_conntrack builds tuples of these protocols only */
    unsigned plen = (unsigned)addr_len(s->family) * 8;
    return (t->has & need) == need && t->src_plen == plen && t->dst_plen == plen;
}

static void tuple_from(struct nurs_ct_tuple_spec *ts, const struct nurs_ct_tuple *t)
{
    memset(ts, 0, sizeof *ts);
    const void *bytes;
    size_t n;
    if ((n = nurs_ct_tuple_addr(t, false, &bytes))) {
        memcpy(ts->src, bytes, n);
        ts->src_plen = (uint8_t)(n * 8);
        ts->has |= NURS_CTS_SRC;
    }
    if ((n = nurs_ct_tuple_addr(t, true, &bytes))) {
        memcpy(ts->dst, bytes, n);
        ts->dst_plen = (uint8_t)(n * 8);
        ts->has |= NURS_CTS_DST;
    }
    if (nurs_ct_tuple_port(t, false, &ts->sport) && nurs_ct_tuple_port(t, true, &ts->dport))
        ts->has |= NURS_CTS_SPORT | NURS_CTS_DPORT;
    if (nurs_ct_tuple_icmp(t, &ts->icmp_type, &ts->icmp_code, &ts->icmp_id))
        ts->has |= NURS_CTS_ICMP_TYPE | NURS_CTS_ICMP_CODE | NURS_CTS_ICMP_ID;
}

static bool tuple_proto(const struct nurs_ct_tuple *t, uint8_t *proto)
{
    if (!t || !t->proto[CTA_PROTO_NUM])
        return false;
    *proto = nurs_ct_attr_u8(t->proto[CTA_PROTO_NUM]);
    return true;
}

bool nurs_ct_spec_from_msg(struct nurs_ct_spec *s, struct nurs_ct_msg *m)
{
    memset(s, 0, sizeof *s);
    const struct nurs_ct_tuple *t = nurs_ct_tuple(m, NURS_CT_ORIG);
    if (!t || !tuple_proto(t, &s->proto))
        return false;
    s->family = m->family;
    s->has = NURS_CTS_FAMILY | NURS_CTS_PROTO;
    tuple_from(&s->orig, t);
    if (nurs_ct_zone(m, &s->zone))
        s->has |= NURS_CTS_ZONE;
    if (nurs_ct_u32(m, CTA_ID, &s->id))
        s->has |= NURS_CTS_ID;
    return true;
}

static bool prefix_equal(const uint8_t *want, unsigned plen, const uint8_t *have)
{
    unsigned whole = plen / 8, rest = plen % 8;
    if (memcmp(want, have, whole) != 0)
        return false;
    if (!rest)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (want[whole] & mask) == (have[whole] & mask);
}

static bool addr_match(const uint8_t *want, unsigned plen, const struct nurs_ct_tuple *t,
                       bool dst)
{
    const void *bytes;
    size_t n = nurs_ct_tuple_addr(t, dst, &bytes);
    return n && plen <= n * 8 && prefix_equal(want, plen, bytes);
}

static bool tuple_match(const struct nurs_ct_tuple_spec *f, const struct nurs_ct_tuple *t)
{
    if (!f->has)
        return true;
    if (!t)
        return false;
    if ((f->has & NURS_CTS_SRC) && !addr_match(f->src, f->src_plen, t, false))
        return false;
    if ((f->has & NURS_CTS_DST) && !addr_match(f->dst, f->dst_plen, t, true))
        return false;
    uint16_t port;
    if ((f->has & NURS_CTS_SPORT) && (!nurs_ct_tuple_port(t, false, &port) || port != f->sport))
        return false;
    if ((f->has & NURS_CTS_DPORT) && (!nurs_ct_tuple_port(t, true, &port) || port != f->dport))
        return false;
    if (f->has & (NURS_CTS_ICMP_TYPE | NURS_CTS_ICMP_CODE | NURS_CTS_ICMP_ID)) {
        uint8_t type, code;
        uint16_t id;
        if (!nurs_ct_tuple_icmp(t, &type, &code, &id) ||
            ((f->has & NURS_CTS_ICMP_TYPE) && type != f->icmp_type) ||
            ((f->has & NURS_CTS_ICMP_CODE) && code != f->icmp_code) ||
            ((f->has & NURS_CTS_ICMP_ID) && id != f->icmp_id))
            return false;
    }
    if ((f->has & NURS_CTS_TUPLE_ZONE) && (!t->zone || nurs_ct_attr_be16(t->zone) != f->zone))
        return false;
    return true;
}

static bool labels_match(const struct nurs_ct_spec *f, const struct nurs_ct_msg *m)
{
    const uint8_t *bits;
    size_t len;
    if (!nurs_ct_labels(m, &bits, &len))
        len = 0;
    for (size_t w = 0; w < NURS_CT_LABEL_BYTES / 4; w++) {
        uint32_t have = 0;
        if ((w + 1) * 4 <= len)
            memcpy(&have, bits + w * 4, 4);
        if ((have & f->labels[w]) != f->labels[w])
            return false;
    }
    return true;
}

bool nurs_ct_spec_match(const struct nurs_ct_spec *f, struct nurs_ct_msg *m)
{
    uint32_t v;
    uint16_t zone;
    uint8_t proto, state;
    if ((f->has & NURS_CTS_FAMILY) && m->family != f->family)
        return false;
    if ((f->has & NURS_CTS_PROTO) && (!nurs_ct_protonum(m, &proto) || proto != f->proto))
        return false;
    if ((f->has & NURS_CTS_ZONE) && (nurs_ct_zone(m, &zone) ? zone : 0) != f->zone)
        return false;
    if ((f->has & NURS_CTS_ID) && (!nurs_ct_u32(m, CTA_ID, &v) || v != f->id))
        return false;
    /* An entry without a mark has mark 0. */
    if ((f->has & NURS_CTS_MARK) && ((nurs_ct_u32(m, CTA_MARK, &v) ? v : 0) & f->mark_mask) != f->mark)
        return false;
    if ((f->has & NURS_CTS_STATUS) &&
        (!nurs_ct_u32(m, CTA_STATUS, &v) || (v & f->status_mask) != f->status))
        return false;
    if ((f->has & NURS_CTS_STATE) && (!nurs_ct_tcp_state(m, &state) || state != f->state))
        return false;
    if ((f->has & NURS_CTS_LABELS) && !labels_match(f, m))
        return false;
    if ((f->has & NURS_CTS_HELPER)) {
        const char *h = nurs_ct_helper(m);
        if (!h || strcmp(h, f->helper) != 0)
            return false;
    }
    return tuple_match(&f->orig, f->orig.has ? nurs_ct_tuple(m, NURS_CT_ORIG) : NULL) &&
           tuple_match(&f->reply, f->reply.has ? nurs_ct_tuple(m, NURS_CT_REPLY) : NULL);
}

int nurs_ct_tcp_state_number(const char *name)
{
    static const char *const names[] = {
        "NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT",
        "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2",
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

/* ---- expectations ---- */

static bool exp_tuple_spec(struct nurs_ct_spec *s, struct nurs_exp_msg *m,
                           enum nurs_exp_tuple which)
{
    memset(s, 0, sizeof *s);
    const struct nurs_ct_tuple *t = nurs_exp_tuple(m, which);
    if (!t)
        return false;
    s->family = m->family;
    s->has = NURS_CTS_FAMILY;
    if (tuple_proto(t, &s->proto))
        s->has |= NURS_CTS_PROTO;
    tuple_from(&s->orig, t);
    return true;
}

bool nurs_exp_spec_from_msg(struct nurs_exp_spec *s, struct nurs_exp_msg *m)
{
    memset(s, 0, sizeof *s);
    if (!exp_tuple_spec(&s->tuple, m, NURS_EXP_TUPLE))
        return false;
    s->has = NURS_EXS_TUPLE;
    if (exp_tuple_spec(&s->master, m, NURS_EXP_MASTER))
        s->has |= NURS_EXS_MASTER;
    if (exp_tuple_spec(&s->mask, m, NURS_EXP_MASK))
        s->has |= NURS_EXS_MASK;
    if (nurs_exp_zone(m, &s->zone))
        s->has |= NURS_EXS_ZONE;
    if (nurs_exp_u32(m, CTA_EXPECT_ID, &s->id))
        s->has |= NURS_EXS_ID;
    return true;
}

bool nurs_exp_spec_match(const struct nurs_exp_spec *f, struct nurs_exp_msg *m)
{
    uint16_t zone;
    uint32_t id;
    uint8_t proto;
    if ((f->has & NURS_EXS_ZONE) && (nurs_exp_zone(m, &zone) ? zone : 0) != f->zone)
        return false;
    if ((f->has & NURS_EXS_ID) && (!nurs_exp_u32(m, CTA_EXPECT_ID, &id) || id != f->id))
        return false;
    if (f->has & NURS_EXS_HELPER) {
        const char *h = nurs_exp_helper(m);
        if (!h || strcmp(h, f->helper) != 0)
            return false;
    }
    const struct nurs_ct_spec *parts[] = {&f->master, &f->tuple};
    const enum nurs_exp_tuple which[] = {NURS_EXP_MASTER, NURS_EXP_TUPLE};
    for (int i = 0; i < 2; i++) {
        const struct nurs_ct_spec *p = parts[i];
        if ((p->has & NURS_CTS_FAMILY) && p->family != m->family)
            return false;
        const struct nurs_ct_tuple *t = nurs_exp_tuple(m, which[i]);
        if ((p->has & NURS_CTS_PROTO) && (!tuple_proto(t, &proto) || proto != p->proto))
            return false;
        if (!tuple_match(&p->orig, p->orig.has ? t : NULL))
            return false;
    }
    return true;
}
