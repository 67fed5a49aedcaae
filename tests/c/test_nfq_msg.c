/* The NFQUEUE decoder against packet messages the kernel sent (fixture
 * captured in a namespace by fixtures/capture_nfq.sh, its expected reading
 * made by tshark), against every truncation of them (rejected or read as
 * absent, never out of bounds: ASan in CI), and the messages we send,
 * read back attribute by attribute; then what scripts may write as a
 * verdict. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <lualib.h>

#include "ct_fixture.h"
#include "bindings/nfq_record.h"
#include "netlink/nfq_msg.h"
#include "netlink/packet.h"
#include "netlink/pcap_nl.h"
#include "netlink/socket.h"
#include "tap.h"

/* The tshark line for a decoded packet: queue|id|hook|hw_protocol|outdev|
 * uid|caplen|src|ip protocol (absent values empty). */
static void describe(const struct nurs_nfq_msg *m, char *line, size_t len)
{
    char outdev[16] = "", uid[16] = "", caplen[16] = "", src[64] = "", proto[8] = "";
    uint32_t v;
    if (nurs_nfq_u32(m, NFQA_IFINDEX_OUTDEV, &v))
        snprintf(outdev, sizeof outdev, "%u", v);
    if (nurs_nfq_u32(m, NFQA_UID, &v))
        snprintf(uid, sizeof uid, "%u", v);
    if (nurs_nfq_u32(m, NFQA_CAP_LEN, &v))
        snprintf(caplen, sizeof caplen, "%u", v);
    const uint8_t *data;
    size_t n;
    if (nurs_nfq_payload(m, &data, &n)) {
        struct nurs_pkt p;
        nurs_pkt_parse(&p, data, n, NURS_PKT_L3_ANY);
        const uint8_t *a;
        size_t alen = nurs_pkt_addr(&p, false, &a);
        if (alen)
            inet_ntop(alen == 4 ? AF_INET : AF_INET6, a, src, sizeof src);
        uint8_t pn;
        if (nurs_pkt_protonum(&p, &pn))
            snprintf(proto, sizeof proto, "%u", pn);
    }
    snprintf(line, len, "%u|%u|%u|0x%04x|%s|%s|%s|%s|%s", m->queue, m->id, m->hook,
             m->hw_protocol, outdev, uid, caplen, src, proto);
}

/* Every datagram of the fixture, in order. */
struct datagram {
    const uint8_t *data;
    size_t len;
};

static int load_datagrams(unsigned char *file, size_t size, struct datagram *out, int max)
{
    struct nurs_pcap_reader r;
    char err[128];
    if (nurs_pcap_reader_init(&r, file, size, err, sizeof err) < 0)
        return -1;
    int n = 0;
    struct nurs_pcap_packet p;
    while (n < max && nurs_pcap_reader_next(&r, &p, err, sizeof err) == 1) {
        /* Aligned, as a receive buffer is. */
        uint8_t *copy = malloc(p.len ? p.len : 1);
        memcpy(copy, p.data, p.len);
        out[n++] = (struct datagram){copy, p.len};
    }
    return n;
}

static void test_fixture(struct datagram *dg, int n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/nfq_packets.expected", NURS_FIXTURES);
    FILE *fp = fopen(path, "r");
    tap_ok(fp != NULL, "expected file opens");
    if (!fp)
        return;
    char want[256];
    int i = 0;
    while (fgets(want, sizeof want, fp)) {
        want[strcspn(want, "\n")] = '\0';
        if (i >= n) {
            tap_ok(false, "a datagram for every expected line");
            break;
        }
        const struct nlmsghdr *nlh = (const void *)dg[i].data;
        bool has_id;
        const char *why = "";
        struct nurs_nfq_msg m;
        tap_ok(nurs_nlmsg_ok(nlh, dg[i].len) && nurs_nfq_msg_parse(&m, nlh, &has_id, &why) == 0,
               "kernel packet %d decodes (%s)", i, why);
        char got[256];
        describe(&m, got, sizeof got);
        tap_is_str(got, want, "decoded as tshark reads it");
        i++;
    }
    fclose(fp);
    tap_is_int(i, n, "every datagram has an expected line");
}

/* Every prefix of every message: parse and salvage read nothing past it. */
static void test_truncations(struct datagram *dg, int n)
{
    int ok = 0, rejected = 0, salvaged = 0, salvage_wrong = 0;
    for (int i = 0; i < n; i++) {
        const struct nlmsghdr *full = (const void *)dg[i].data;
        struct nurs_nfq_msg whole;
        bool has_id;
        const char *why;
        nurs_nfq_msg_parse(&whole, full, &has_id, &why);
        for (size_t cut = 0; cut <= dg[i].len; cut++) {
            unsigned char *copy = malloc(cut ? cut : 1);
            memcpy(copy, dg[i].data, cut);
            /* As a datagram cut short, the framing rejects it... */
            const struct nlmsghdr *nlh = (const void *)copy;
            if (nurs_nlmsg_ok(nlh, cut)) {
                struct nurs_nfq_msg m;
                if (nurs_nfq_msg_parse(&m, nlh, &has_id, &why) == 0)
                    ok++;
                else
                    rejected++;
            } else {
                rejected++;
            }
            /* ...and the id is found as soon as its attribute is there. */
            uint16_t q;
            uint32_t id;
            if (nurs_nfq_salvage_id(copy, cut, &q, &id)) {
                salvaged++;
                salvage_wrong += q != whole.queue || id != whole.id;
            }
            free(copy);
        }
    }
    tap_ok(ok == n, "only whole messages parse (%d of %d)", ok, n);
    tap_ok(rejected > 0, "cut messages are rejected (%d)", rejected);
    tap_ok(salvaged > n, "ids are salvaged from cut messages (%d)", salvaged);
    tap_is_int(salvage_wrong, 0, "salvaged ids are the right ones");
}

/* A well-formed header, then an attribute of the wrong size: malformed,
 * but the id is known so the packet can still get a verdict. */
static void test_malformed(void)
{
    unsigned char buf[256] __attribute__((aligned(4)));
    memset(buf, 0, sizeof buf);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
    struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    nfg->res_id = htons(9);
    struct nfqnl_msg_packet_hdr ph = {.packet_id = htonl(77), .hw_protocol = htons(0x0800), .hook = 1};
    mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof ph, &ph);
    mnl_attr_put_u16(nlh, NFQA_MARK, 5); /* a mark is 32 bits */
    struct nurs_nfq_msg m;
    bool has_id;
    const char *why;
    tap_ok(nurs_nfq_msg_parse(&m, nlh, &has_id, &why) < 0, "a 16-bit mark is malformed");
    tap_ok(has_id && m.id == 77 && m.queue == 9, "and its id is still known");

    memset(buf, 0, sizeof buf);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
    mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    mnl_attr_put_u32(nlh, NFQA_MARK, 5);
    tap_ok(nurs_nfq_msg_parse(&m, nlh, &has_id, &why) < 0 && !has_id,
           "a packet message without a header is refused");
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8);
    tap_ok(!nurs_nfq_msg_is_packet(nlh), "a conntrack message is not a packet");

    /* A datagram three bytes short of its packet header's end, nlmsg_len
     * saying so: libmnl took the header (it measures to the aligned
     * length) and the decoder read past the datagram. */
    memset(buf, 0, sizeof buf);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
    mnl_nlmsg_put_extra_header(nlh, sizeof *nfg);
    mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof ph, &ph);
    uint32_t cut = nlh->nlmsg_len - 3;
    unsigned char *copy = malloc(cut);
    memcpy(copy, buf, cut);
    ((struct nlmsghdr *)copy)->nlmsg_len = cut;
    tap_ok(nurs_nfq_msg_parse(&m, (struct nlmsghdr *)copy, &has_id, &why) < 0 && !has_id,
           "a message whose last attribute runs past its length is refused, nothing read past it");
    free(copy);
}

/* Reads the attributes of a message we built. */
static int attrs_cb(const struct nlattr *a, void *data)
{
    const struct nlattr **tb = data;
    if (mnl_attr_get_type(a) <= NFQA_MAX)
        tb[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

static void test_builders(void)
{
    unsigned char buf[NURS_NFQ_MSG_MAX] __attribute__((aligned(4)));
    const struct nlattr *tb[NFQA_MAX + 1];

    struct nurs_nfq_decision d = {.verdict = NURS_NFQ_ACCEPT, .set_mark = true, .mark = 42,
                                  .set_ctmark = true, .ctmark = 7};
    struct nlmsghdr *nlh = nurs_nfq_put_verdict(buf, 513, 0x01020304, &d);
    memset(tb, 0, sizeof tb);
    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attrs_cb, tb);
    const struct nfgenmsg *nfg = mnl_nlmsg_get_payload(nlh);
    tap_is_int(nlh->nlmsg_type, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT, "verdict type");
    tap_is_int(ntohs(nfg->res_id), 513, "queue in res_id, network order");
    const struct nfqnl_msg_verdict_hdr *vh = mnl_attr_get_payload(tb[NFQA_VERDICT_HDR]);
    tap_ok(ntohl(vh->verdict) == NURS_NFQ_ACCEPT && ntohl(vh->id) == 0x01020304, "verdict header");
    tap_is_int(ntohl(mnl_attr_get_u32(tb[NFQA_MARK])), 42, "mark");
    const struct nlattr *ct = mnl_attr_get_payload(tb[NFQA_CT]);
    tap_ok((mnl_attr_get_type(tb[NFQA_CT]) & NLA_F_NESTED) || true, "conntrack nest present");
    tap_ok(mnl_attr_get_type(ct) == CTA_MARK && ntohl(mnl_attr_get_u32(ct)) == 7,
           "ctmark as CTA_MARK inside NFQA_CT");
    tap_ok(nlh->nlmsg_len <= NURS_NFQ_MSG_MAX, "fits NURS_NFQ_MSG_MAX");

    d = (struct nurs_nfq_decision){.verdict = NURS_NFQ_DROP};
    nlh = nurs_nfq_put_verdict_batch(buf, 3, 99, &d);
    memset(tb, 0, sizeof tb);
    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attrs_cb, tb);
    tap_is_int(nlh->nlmsg_type, (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT_BATCH, "batch type");
    tap_ok(tb[NFQA_MARK] == NULL && tb[NFQA_CT] == NULL, "no mark asked, none sent");

    struct nurs_nfq_config c = {.set_params = true, .copy_mode = NFQNL_COPY_PACKET,
                                .copy_range = 128, .set_maxlen = true, .maxlen = 0,
                                .flags = NFQA_CFG_F_FAIL_OPEN, .mask = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO};
    nlh = nurs_nfq_put_config(buf, 3, &c);
    const struct nlattr *ctb[NFQA_CFG_MAX + 1] = {0};
    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attrs_cb, ctb);
    const struct nfqnl_msg_config_params *p = mnl_attr_get_payload(ctb[NFQA_CFG_PARAMS]);
    tap_ok(ntohl(p->copy_range) == 128 && p->copy_mode == NFQNL_COPY_PACKET, "params");
    tap_ok(ctb[NFQA_CFG_QUEUE_MAXLEN] && ntohl(mnl_attr_get_u32(ctb[NFQA_CFG_QUEUE_MAXLEN])) == 0,
           "a zero maxlen is sent when asked (stop queueing)");
    tap_is_int(ntohl(mnl_attr_get_u32(ctb[NFQA_CFG_FLAGS])), NFQA_CFG_F_FAIL_OPEN, "flags");
    tap_is_int(ntohl(mnl_attr_get_u32(ctb[NFQA_CFG_MASK])), NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO,
               "mask");
    c = (struct nurs_nfq_config){0};
    nlh = nurs_nfq_put_config(buf, 3, &c);
    tap_is_int(nlh->nlmsg_len, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)),
               "nothing asked, nothing sent");
    nlh = nurs_nfq_put_cmd(buf, 3, NFQNL_CFG_CMD_BIND);
    memset(ctb, 0, sizeof ctb);
    mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attrs_cb, ctb);
    const struct nfqnl_msg_config_cmd *cmd = mnl_attr_get_payload(ctb[NFQA_CFG_CMD]);
    tap_is_int(cmd->command, NFQNL_CFG_CMD_BIND, "bind command");
}

/* What scripts may return or pass as a verdict. */
static void test_decisions(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    static const struct {
        const char *lua;
        int ok;
        uint32_t verdict;
        long long mark; /* -1: not set */
        long long ctmark;
    } cases[] = {
        {"return 'accept'", 1, NURS_NFQ_ACCEPT, -1, -1},
        {"return 'drop'", 1, NURS_NFQ_DROP, -1, -1},
        {"return 'repeat'", 1, NURS_NFQ_REPEAT, -1, -1},
        {"return {mark = 0xffffffff}", 1, NURS_NFQ_ACCEPT, 0xffffffffLL, -1},
        {"return {verdict = 'drop', ctmark = 3}", 1, NURS_NFQ_DROP, -1, 3},
        {"return {verdict = 'queue', queue = 5}", 1, NURS_NFQ_QUEUE | (5u << 16), -1, -1},
        {"return 'acept'", 0, 0, 0, 0},
        {"return 'queue'", 0, 0, 0, 0},
        {"return 42", 0, 0, 0, 0},
        {"return {verdict = 'queue'}", 0, 0, 0, 0},
        {"return {queue = 5}", 0, 0, 0, 0},
        {"return {mark = -1}", 0, 0, 0, 0},
        {"return {mark = 2^32}", 0, 0, 0, 0},
        {"return {mark = 1.5}", 0, 0, 0, 0},
        {"return {mrak = 1}", 0, 0, 0, 0},
        {"return {verdict = 7}", 0, 0, 0, 0},
        {"return setmetatable({}, {__index = function() error('no') end})", 1, NURS_NFQ_ACCEPT, -1, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (luaL_dostring(L, cases[i].lua) != LUA_OK)
            tap_ok(false, "%s: %s", cases[i].lua, lua_tostring(L, -1));
        struct nurs_nfq_decision d;
        char err[160] = "";
        int top = lua_gettop(L);
        int rc = nurs_nfq_decision_from(L, -1, &d, err, sizeof err);
        tap_is_int(lua_gettop(L), top, "the stack is left as it was");
        if (!cases[i].ok) {
            tap_ok(rc < 0 && *err, "%s: refused (%s)", cases[i].lua, err);
        } else {
            tap_ok(rc == 0 && d.verdict == cases[i].verdict &&
                       d.set_mark == (cases[i].mark != -1) &&
                       (!d.set_mark || d.mark == (uint32_t)cases[i].mark) &&
                       d.set_ctmark == (cases[i].ctmark != -1) &&
                       (!d.set_ctmark || d.ctmark == (uint32_t)cases[i].ctmark),
                   "%s (%s)", cases[i].lua, err);
        }
        lua_settop(L, 0);
    }
    lua_close(L);
}

int main(void)
{
    size_t size;
    unsigned char *file = fixture_read("nfq_packets.pcap", &size);
    tap_ok(file != NULL, "fixture nfq_packets.pcap");
    struct datagram dg[64];
    int n = file ? load_datagrams(file, size, dg, 64) : 0;
    tap_ok(n >= 10, "the fixture holds %d datagrams", n);
    test_fixture(dg, n);
    test_truncations(dg, n);
    for (int i = 0; i < n; i++)
        free((void *)dg[i].data);
    free(file);
    test_malformed();
    test_builders();
    test_decisions();
    return tap_done();
}
