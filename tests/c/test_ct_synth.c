/* The synthetic DESTROY generator against the kernel: every DESTROY event
 * in fixtures/ct_events.bin, decoded and synthesized again from its
 * values, must come out byte for byte the same. */
#include <arpa/inet.h>
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nfnetlink_conntrack.h>

#include "netlink/ct_msg.h"
#include "netlink/ct_synth.h"
#include "netlink/socket.h"
#include "tap.h"

static const struct nlattr *top_attr(const struct nlmsghdr *nlh, int type)
{
    const struct nlattr *a;
    mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
        if (mnl_attr_get_type(a) == type)
            return a;
    return NULL;
}

static uint8_t tcp_state(const struct nlmsghdr *nlh)
{
    const struct nlattr *pi = top_attr(nlh, CTA_PROTOINFO), *tcp, *st;
    if (!pi)
        return 0;
    mnl_attr_for_each_nested(tcp, pi)
        mnl_attr_for_each_nested(st, tcp)
            if (mnl_attr_get_type(st) == CTA_PROTOINFO_TCP_STATE)
                return mnl_attr_get_u8(st);
    return 0;
}

static void values_of(struct nurs_ct_msg *m, struct nurs_ct_synth *c)
{
    const struct nlmsghdr *nlh = m->nlh;
    memset(c, 0, sizeof *c);
    c->family = m->family;
    nurs_ct_protonum(m, &c->proto);
    const void *raw;
    size_t n;
    n = nurs_ct_addr_raw(m, NURS_CT_ORIG, false, &raw); memcpy(c->src, raw, n);
    n = nurs_ct_addr_raw(m, NURS_CT_ORIG, true, &raw); memcpy(c->dst, raw, n);
    n = nurs_ct_addr_raw(m, NURS_CT_REPLY, false, &raw); memcpy(c->rsrc, raw, n);
    n = nurs_ct_addr_raw(m, NURS_CT_REPLY, true, &raw); memcpy(c->rdst, raw, n);
    nurs_ct_port(m, NURS_CT_ORIG, false, &c->sport);
    nurs_ct_port(m, NURS_CT_ORIG, true, &c->dport);
    nurs_ct_port(m, NURS_CT_REPLY, false, &c->rsport);
    nurs_ct_port(m, NURS_CT_REPLY, true, &c->rdport);
    uint16_t id;
    uint8_t code;
    nurs_ct_icmp(m, NURS_CT_ORIG, &c->icmp_type, &c->icmp_code, &c->icmp_id);
    nurs_ct_icmp(m, NURS_CT_REPLY, &c->ricmp_type, &code, &id);
    nurs_ct_u32(m, CTA_ID, &c->id);
    nurs_ct_u32(m, CTA_STATUS, &c->status);
    nurs_ct_u32(m, CTA_TIMEOUT, &c->timeout);
    nurs_ct_u32(m, CTA_MARK, &c->mark);
    nurs_ct_zone(m, &c->zone);
    nurs_ct_counters(m, NURS_CT_ORIG, &c->packets[0], &c->bytes[0]);
    nurs_ct_counters(m, NURS_CT_REPLY, &c->packets[1], &c->bytes[1]);
    nurs_ct_timestamp(m, false, &c->start_ns);
    nurs_ct_timestamp(m, true, &c->stop_ns);
    const struct nlattr *ev = top_attr(nlh, 27);
    if (ev)
        c->event_ns = be64toh(mnl_attr_get_u64(ev));
    c->tcp_state = tcp_state(nlh);
    c->portid = nlh->nlmsg_pid; /* conntrack -F's socket, which caused these */
}

int main(void)
{
    FILE *fp = fopen(NURS_FIXTURES "/ct_events.bin", "rb");
    static unsigned char data[1 << 20];
    size_t len = fp ? fread(data, 1, sizeof data, fp) : 0;
    if (fp)
        fclose(fp);
    tap_ok(len > 0, "fixture read");
    int destroys = 0, identical = 0;
    size_t left = len;
    for (const struct nlmsghdr *nlh = (void *)data; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_ct_msg m;
        const char *why;
        if (nurs_ct_msg_parse(&m, nlh, false, &why) < 0 || m.event != NURS_CT_EVENT_DESTROY)
            continue;
        destroys++;
        struct nurs_ct_synth c;
        values_of(&m, &c);
        unsigned char out[1024];
        size_t n = nurs_ct_synth_destroy(out, sizeof out, &c);
        if (n == nlh->nlmsg_len && memcmp(out, nlh, n) == 0) {
            identical++;
        } else {
            printf("# destroy id %u: %zu bytes synthesized, kernel sent %u\n", c.id, n,
                   nlh->nlmsg_len);
            for (size_t i = 0; i < n && i < nlh->nlmsg_len; i++)
                if (out[i] != ((const unsigned char *)nlh)[i]) {
                    printf("#   first difference at byte %zu\n", i);
                    break;
                }
        }
    }
    tap_ok(destroys >= 9, "fixture has DESTROY events (%d)", destroys);
    tap_is_int(identical, destroys, "every DESTROY synthesized byte for byte as the kernel sent it");
    return tap_done();
}
