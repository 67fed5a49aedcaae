/* Packet views over crafted packets: every field of IPv4/IPv6 with TCP,
 * UDP and ICMP, IPv6 extension chains, fragments, malformed headers, and
 * every truncation: for each packet, each prefix of it is parsed from an
 * exact-size heap copy (ASan catches any read past it) and each field must
 * be present exactly when its bytes were captured, with the value the
 * whole packet gives. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "netlink/packet.h"
#include "pkt_build.h"
#include "records/pkt_fields.h"
#include "tap.h"

#define NEVER INT_MAX

/* ---- every field as text, through the same walker Lua and JSON use ---- */

struct texts {
    char v[NURS_PKTF_COUNT][64];
    int field; /* being emitted */
};

static void t_begin(void *ctx, const char *key) { (void)ctx, (void)key; }
static void t_end(void *ctx) { (void)ctx; }
static void t_int(void *ctx, const char *key, long long v)
{
    struct texts *t = ctx;
    (void)key;
    snprintf(t->v[t->field], sizeof t->v[0], "%lld", v);
}
static void t_str(void *ctx, const char *key, const char *s, size_t len)
{
    struct texts *t = ctx;
    (void)key;
    snprintf(t->v[t->field], sizeof t->v[0], "%.*s", (int)len, s);
}
static void t_bool(void *ctx, const char *key, bool v)
{
    struct texts *t = ctx;
    (void)key;
    snprintf(t->v[t->field], sizeof t->v[0], "%s", v ? "true" : "false");
}
static const struct nurs_emit text_emitter = {t_begin, t_end, t_begin, t_end, t_int, t_str, t_bool};

/* Parses a heap copy of exactly len bytes, fills every field's text
 * ("" when absent) and the captured payload. */
static void view(const uint8_t *pkt, size_t len, enum nurs_pkt_l3 hint, struct texts *t,
                 char *payload, size_t paylen)
{
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, pkt, len);
    struct nurs_pkt p;
    nurs_pkt_parse(&p, copy, len, hint);
    memset(t, 0, sizeof *t);
    for (int f = 0; f < NURS_PKTF_COUNT; f++) {
        t->field = f;
        bool present = nurs_pkt_emit_field(&p, (enum nurs_pkt_field)f, &text_emitter, t);
        if (present != (t->v[f][0] != '\0'))
            tap_ok(false, "field %s: presence and emitted value disagree",
                   nurs_pkt_field_names[f]);
    }
    const uint8_t *bytes;
    size_t n;
    if (payload) {
        payload[0] = '\0';
        if (nurs_pkt_payload(&p, &bytes, &n))
            snprintf(payload, paylen, "[%.*s]", (int)n, (const char *)bytes);
    }
    free(copy);
}

struct expect {
    enum nurs_pkt_field f;
    const char *value;
    int from; /* bytes needed for the field to be present */
};

/* The whole packet has exactly the expected fields; every prefix has each
 * of them from its threshold on (same value), and no other. */
static void check_packet(const char *name, const uint8_t *pkt, size_t len,
                         const struct expect *ex, size_t nex, const char *payload)
{
    struct texts full, cut;
    char pay[256], cutpay[256];
    int from[NURS_PKTF_COUNT];
    const char *want[NURS_PKTF_COUNT] = {0};
    for (int f = 0; f < NURS_PKTF_COUNT; f++)
        from[f] = NEVER;
    from[NURS_PKTF_CAPLEN] = 0;
    for (size_t i = 0; i < nex; i++) {
        from[ex[i].f] = ex[i].from;
        want[ex[i].f] = ex[i].value;
    }
    view(pkt, len, NURS_PKT_L3_ANY, &full, pay, sizeof pay);
    char caplen[16];
    snprintf(caplen, sizeof caplen, "%zu", len);
    want[NURS_PKTF_CAPLEN] = caplen;
    bool all = true;
    for (int f = 0; f < NURS_PKTF_COUNT; f++) {
        const char *w = want[f] ? want[f] : "";
        if (strcmp(full.v[f], w) != 0) {
            all = false;
            printf("#   %s: %s is '%s', want '%s'\n", name, nurs_pkt_field_names[f], full.v[f], w);
        }
    }
    tap_ok(all, "%s: every field of the whole packet", name);
    tap_is_str(pay, payload ? payload : "", name);

    bool prefixes_ok = true;
    for (size_t n = 0; n <= len && prefixes_ok; n++) {
        view(pkt, n, NURS_PKT_L3_ANY, &cut, cutpay, sizeof cutpay);
        for (int f = 0; f < NURS_PKTF_COUNT; f++) {
            if (f == NURS_PKTF_CAPLEN)
                continue;
            bool should = from[f] != NEVER && (size_t)from[f] <= n;
            bool is = cut.v[f][0] != '\0';
            if (should != is || (is && strcmp(cut.v[f], full.v[f]) != 0)) {
                printf("#   %s cut to %zu bytes: %s is '%s' (whole: '%s', present from %d)\n",
                       name, n, nurs_pkt_field_names[f], cut.v[f], full.v[f], from[f]);
                prefixes_ok = false;
            }
        }
        /* A cut payload is a prefix of the whole one. */
        if (cutpay[0] && strncmp(cutpay, pay, strlen(cutpay) - 1) != 0) {
            printf("#   %s cut to %zu bytes: payload %s not a prefix of %s\n", name, n, cutpay,
                   pay);
            prefixes_ok = false;
        }
    }
    tap_ok(prefixes_ok, "%s: every prefix reads only what it captured", name);
}

#define CHECK(name, pkt, len, ex, payload) \
    check_packet(name, pkt, len, ex, sizeof ex / sizeof *ex, payload)

/* ---- IPv4 ---- */

static void test_ipv4_tcp(void)
{
    uint8_t b[128];
    size_t ip = pb_ipv4(b, IPPROTO_TCP, "192.0.2.1", "198.51.100.22", 24 + 5, 0x1234, 0x4000, 5);
    size_t tcp = pb_tcp(b + ip, 40000, 443, 0xdeadbeef, 0x01020304, 0x018, 65535, 4);
    memcpy(b + ip + tcp, "hello", 5);
    size_t len = ip + tcp + 5;
    const struct expect ex[] = {
        {NURS_PKTF_FAMILY, "ipv4", 1},       {NURS_PKTF_PROTO, "tcp", 20},
        {NURS_PKTF_PROTONUM, "6", 20},       {NURS_PKTF_SRC, "192.0.2.1", 20},
        {NURS_PKTF_DST, "198.51.100.22", 20}, {NURS_PKTF_TTL, "64", 20},
        {NURS_PKTF_TOS, "16", 20},           {NURS_PKTF_IP_LEN, "49", 20},
        {NURS_PKTF_IP_ID, "4660", 20},       {NURS_PKTF_DF, "true", 20},
        {NURS_PKTF_SPORT, "40000", 24},      {NURS_PKTF_DPORT, "443", 24},
        {NURS_PKTF_SEQ, "3735928559", 28},   {NURS_PKTF_ACK, "16909060", 32},
        {NURS_PKTF_TCP_HDRLEN, "24", 33},    {NURS_PKTF_TCP_FLAGS, "P.", 34},
        {NURS_PKTF_TCP_FLAGS_BITS, "24", 34}, {NURS_PKTF_WINDOW, "65535", 36},
        {NURS_PKTF_PAYLOAD_OFFSET, "44", 33}, {NURS_PKTF_PAYLOAD_LEN, "5", 33},
    };
    CHECK("ipv4 tcp", b, len, ex, "[hello]");
}

static void test_ipv4_udp_options(void)
{
    uint8_t b[128];
    /* 8 bytes of IP options: the UDP header starts at 28. */
    size_t ip = pb_ipv4(b, IPPROTO_UDP, "10.0.0.1", "10.0.0.2", 8 + 3, 7, 0, 7);
    pb_udp(b + ip, 53, 5353, 8 + 3);
    memcpy(b + ip + 8, "abc", 3);
    size_t len = ip + 8 + 3;
    const struct expect ex[] = {
        {NURS_PKTF_FAMILY, "ipv4", 1},      {NURS_PKTF_PROTO, "udp", 20},
        {NURS_PKTF_PROTONUM, "17", 20},     {NURS_PKTF_SRC, "10.0.0.1", 20},
        {NURS_PKTF_DST, "10.0.0.2", 20},    {NURS_PKTF_TTL, "64", 20},
        {NURS_PKTF_TOS, "16", 20},          {NURS_PKTF_IP_LEN, "39", 20},
        {NURS_PKTF_IP_ID, "7", 20},         {NURS_PKTF_DF, "false", 20},
        {NURS_PKTF_SPORT, "53", 32},        {NURS_PKTF_DPORT, "5353", 32},
        {NURS_PKTF_UDP_LEN, "11", 34},      {NURS_PKTF_PAYLOAD_OFFSET, "36", 34},
        {NURS_PKTF_PAYLOAD_LEN, "3", 34},
    };
    CHECK("ipv4 udp, ip options", b, len, ex, "[abc]");
}

static void test_ipv4_icmp(void)
{
    uint8_t b[64];
    size_t ip = pb_ipv4(b, IPPROTO_ICMP, "127.0.0.1", "127.0.0.1", 8 + 4, 1, 0, 5);
    pb_icmp(b + ip, 8, 0, 0x4242, 3);
    memcpy(b + ip + 8, "ping", 4);
    const struct expect echo[] = {
        {NURS_PKTF_FAMILY, "ipv4", 1},     {NURS_PKTF_PROTO, "icmp", 20},
        {NURS_PKTF_PROTONUM, "1", 20},     {NURS_PKTF_SRC, "127.0.0.1", 20},
        {NURS_PKTF_DST, "127.0.0.1", 20},  {NURS_PKTF_TTL, "64", 20},
        {NURS_PKTF_TOS, "16", 20},         {NURS_PKTF_IP_LEN, "32", 20},
        {NURS_PKTF_IP_ID, "1", 20},        {NURS_PKTF_DF, "false", 20},
        {NURS_PKTF_TYPE, "8", 22},         {NURS_PKTF_CODE, "0", 22},
        {NURS_PKTF_ICMP_ID, "16962", 28},  {NURS_PKTF_ICMP_SEQ, "3", 28},
        {NURS_PKTF_PAYLOAD_OFFSET, "28", 20}, {NURS_PKTF_PAYLOAD_LEN, "4", 20},
    };
    CHECK("ipv4 icmp echo", b, ip + 12, echo, "[ping]");

    /* Destination unreachable: type and code, no echo id/seq. */
    pb_icmp(b + ip, 3, 3, 0, 0);
    const struct expect unreach[] = {
        {NURS_PKTF_FAMILY, "ipv4", 1},     {NURS_PKTF_PROTO, "icmp", 20},
        {NURS_PKTF_PROTONUM, "1", 20},     {NURS_PKTF_SRC, "127.0.0.1", 20},
        {NURS_PKTF_DST, "127.0.0.1", 20},  {NURS_PKTF_TTL, "64", 20},
        {NURS_PKTF_TOS, "16", 20},         {NURS_PKTF_IP_LEN, "32", 20},
        {NURS_PKTF_IP_ID, "1", 20},        {NURS_PKTF_DF, "false", 20},
        {NURS_PKTF_TYPE, "3", 22},         {NURS_PKTF_CODE, "3", 22},
        {NURS_PKTF_PAYLOAD_OFFSET, "28", 20}, {NURS_PKTF_PAYLOAD_LEN, "4", 20},
    };
    CHECK("ipv4 icmp unreachable", b, ip + 12, unreach, "[ping]");
}

static void test_ipv4_fragments(void)
{
    uint8_t b[64];
    /* First fragment: MF set, offset 0; the UDP header is there. */
    size_t ip = pb_ipv4(b, IPPROTO_UDP, "10.1.1.1", "10.2.2.2", 16, 99, 0x2000, 5);
    pb_udp(b + ip, 1000, 2000, 3000);
    memset(b + ip + 8, 'x', 8);
    const struct expect first[] = {
        {NURS_PKTF_FAMILY, "ipv4", 1},     {NURS_PKTF_PROTO, "udp", 20},
        {NURS_PKTF_PROTONUM, "17", 20},    {NURS_PKTF_SRC, "10.1.1.1", 20},
        {NURS_PKTF_DST, "10.2.2.2", 20},   {NURS_PKTF_TTL, "64", 20},
        {NURS_PKTF_TOS, "16", 20},         {NURS_PKTF_IP_LEN, "36", 20},
        {NURS_PKTF_IP_ID, "99", 20},       {NURS_PKTF_DF, "false", 20},
        {NURS_PKTF_FRAG_OFFSET, "0", 20},  {NURS_PKTF_FRAG_MORE, "true", 20},
        {NURS_PKTF_FRAG_ID, "99", 20},     {NURS_PKTF_SPORT, "1000", 24},
        {NURS_PKTF_DPORT, "2000", 24},     {NURS_PKTF_UDP_LEN, "3000", 26},
        /* UDP claims 2992 bytes of payload; the fragment holds 8. */
        {NURS_PKTF_PAYLOAD_OFFSET, "28", 26}, {NURS_PKTF_PAYLOAD_LEN, "2992", 26},
    };
    CHECK("ipv4 first fragment", b, ip + 16, first, "[xxxxxxxx]");

    /* A later fragment: offset 1480, no more; what follows the IP header
     * is the middle of the datagram, never read as ports. */
    pb_ipv4(b, IPPROTO_UDP, "10.1.1.1", "10.2.2.2", 16, 99, 1480 / 8, 5);
    const struct expect later[] = {
        {NURS_PKTF_FAMILY, "ipv4", 1},       {NURS_PKTF_PROTO, "udp", 20},
        {NURS_PKTF_PROTONUM, "17", 20},      {NURS_PKTF_SRC, "10.1.1.1", 20},
        {NURS_PKTF_DST, "10.2.2.2", 20},     {NURS_PKTF_TTL, "64", 20},
        {NURS_PKTF_TOS, "16", 20},           {NURS_PKTF_IP_LEN, "36", 20},
        {NURS_PKTF_IP_ID, "99", 20},         {NURS_PKTF_DF, "false", 20},
        {NURS_PKTF_FRAG_OFFSET, "1480", 20}, {NURS_PKTF_FRAG_MORE, "false", 20},
        {NURS_PKTF_FRAG_ID, "99", 20},
    };
    CHECK("ipv4 later fragment", b, ip + 16, later, NULL);
}

static void test_ipv4_malformed(void)
{
    uint8_t b[64];
    struct texts t;
    char pay[64];

    /* IHL below 5: no view beyond the version. */
    pb_ipv4(b, IPPROTO_TCP, "1.1.1.1", "2.2.2.2", 20, 0, 0, 5);
    b[0] = 0x44;
    view(b, 40, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_ok(!t.v[NURS_PKTF_SRC][0] && !t.v[NURS_PKTF_PROTO][0] && !strcmp(t.v[NURS_PKTF_FAMILY], "ipv4"),
           "ihl 4: family only");

    /* Total length shorter than the header: protocol known, no L4. */
    pb_ipv4(b, IPPROTO_TCP, "1.1.1.1", "2.2.2.2", 20, 0, 0, 5);
    pb_tcp(b + 20, 1, 2, 0, 0, 2, 0, 0);
    pb_put16(b + 2, 12);
    view(b, 40, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_ok(!strcmp(t.v[NURS_PKTF_PROTO], "tcp") && !t.v[NURS_PKTF_SPORT][0] && !pay[0],
           "ip length below the header: no ports, no payload");

    /* Length 0 (segmentation offload): unknown, the capture decides. */
    pb_put16(b + 2, 0);
    view(b, 40, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_ok(!t.v[NURS_PKTF_IP_LEN][0] && !strcmp(t.v[NURS_PKTF_SPORT], "1") &&
               !strcmp(t.v[NURS_PKTF_PAYLOAD_LEN], "0"),
           "ip length 0: absent, ports read from the capture");

    /* Padding after the packet is not payload. */
    pb_ipv4(b, IPPROTO_UDP, "1.1.1.1", "2.2.2.2", 8 + 2, 0, 0, 5);
    pb_udp(b + 20, 7, 9, 0);
    memcpy(b + 28, "okPADDING", 9);
    view(b, 37, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_is_str(pay, "[ok]", "bytes past the ip length are not payload (udp length 0: ip decides)");

    /* A TCP data offset below 5 words: no payload. */
    pb_ipv4(b, IPPROTO_TCP, "1.1.1.1", "2.2.2.2", 24, 0, 0, 5);
    pb_tcp(b + 20, 1, 2, 0, 0, 2, 0, 0);
    b[32] = 0x40;
    view(b, 44, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_ok(!strcmp(t.v[NURS_PKTF_TCP_HDRLEN], "16") && !t.v[NURS_PKTF_PAYLOAD_OFFSET][0] && !pay[0],
           "tcp data offset 4: header length shown, no payload");
}

static void test_hints(void)
{
    uint8_t b[64];
    struct texts t;
    pb_ipv4(b, IPPROTO_UDP, "1.1.1.1", "2.2.2.2", 8, 0, 0, 5);
    pb_udp(b + 20, 7, 9, 8);
    view(b, 28, NURS_PKT_L3_IPV6, &t, NULL, 0);
    tap_ok(!t.v[NURS_PKTF_FAMILY][0], "ipv6 hint on an ipv4 packet: no view");
    view(b, 28, NURS_PKT_L3_NONE, &t, NULL, 0);
    tap_ok(!t.v[NURS_PKTF_FAMILY][0] && !strcmp(t.v[NURS_PKTF_CAPLEN], "28"),
           "not-IP hint: no view, length kept");
    view(b, 28, NURS_PKT_L3_IPV4, &t, NULL, 0);
    tap_is_str(t.v[NURS_PKTF_DPORT], "9", "ipv4 hint on an ipv4 packet");
    b[0] = 0x55;
    view(b, 28, NURS_PKT_L3_ANY, &t, NULL, 0);
    tap_ok(!t.v[NURS_PKTF_FAMILY][0], "version 5: not IP");
}

/* ---- IPv6 ---- */

static void test_ipv6_tcp(void)
{
    uint8_t b[128];
    size_t ip = pb_ipv6(b, IPPROTO_TCP, "2001:db8::1", "2001:db8::2", 20);
    pb_tcp(b + ip, 22, 50000, 1, 2, 0x012, 100, 0);
    const struct expect ex[] = {
        {NURS_PKTF_FAMILY, "ipv6", 1},        {NURS_PKTF_PROTO, "tcp", 40},
        {NURS_PKTF_PROTONUM, "6", 40},        {NURS_PKTF_SRC, "2001:db8::1", 40},
        {NURS_PKTF_DST, "2001:db8::2", 40},   {NURS_PKTF_TTL, "255", 40},
        {NURS_PKTF_TOS, "184", 40},           {NURS_PKTF_FLOWLABEL, "74565", 40},
        {NURS_PKTF_IP_LEN, "60", 40},         {NURS_PKTF_SPORT, "22", 44},
        {NURS_PKTF_DPORT, "50000", 44},       {NURS_PKTF_SEQ, "1", 48},
        {NURS_PKTF_ACK, "2", 52},             {NURS_PKTF_TCP_HDRLEN, "20", 53},
        {NURS_PKTF_TCP_FLAGS, "S.", 54},      {NURS_PKTF_TCP_FLAGS_BITS, "18", 54},
        {NURS_PKTF_WINDOW, "100", 56},        {NURS_PKTF_PAYLOAD_OFFSET, "60", 53},
        {NURS_PKTF_PAYLOAD_LEN, "0", 53},
    };
    CHECK("ipv6 tcp", b, ip + 20, ex, "[]");
}

static void test_ipv6_ext_chain(void)
{
    uint8_t b[256];
    size_t off = pb_ipv6(b, IPPROTO_HOPOPTS, "fe80::1", "ff02::1", 0);
    off += pb_ext(b + off, IPPROTO_ROUTING, 0); /* hop-by-hop, 40..48 */
    off += pb_ext(b + off, IPPROTO_DSTOPTS, 1); /* routing, 48..64 */
    off += pb_ext(b + off, IPPROTO_AH, 0);      /* destination options, 64..72 */
    off += pb_ah(b + off, IPPROTO_UDP, 4);      /* AH, 72..96 */
    off += pb_udp(b + off, 546, 547, 8 + 2);
    memcpy(b + off, "v6", 2);
    off += 2;
    pb_put16(b + 4, (uint16_t)(off - 40));
    const struct expect ex[] = {
        /* known once the AH's next-header and length bytes are read */
        {NURS_PKTF_FAMILY, "ipv6", 1},      {NURS_PKTF_PROTO, "udp", 74},
        {NURS_PKTF_PROTONUM, "17", 74},     {NURS_PKTF_SRC, "fe80::1", 40},
        {NURS_PKTF_DST, "ff02::1", 40},     {NURS_PKTF_TTL, "255", 40},
        {NURS_PKTF_TOS, "184", 40},         {NURS_PKTF_FLOWLABEL, "74565", 40},
        {NURS_PKTF_IP_LEN, "106", 40},      {NURS_PKTF_SPORT, "546", 100},
        {NURS_PKTF_DPORT, "547", 100},      {NURS_PKTF_UDP_LEN, "10", 102},
        {NURS_PKTF_PAYLOAD_OFFSET, "104", 102}, {NURS_PKTF_PAYLOAD_LEN, "2", 102},
    };
    CHECK("ipv6 hop-by-hop, routing, destination options, ah, udp", b, off, ex, "[v6]");
}

static void test_ipv6_fragments(void)
{
    uint8_t b[128];
    size_t off = pb_ipv6(b, IPPROTO_FRAGMENT, "2001:db8::a", "2001:db8::b", 8 + 8 + 4);
    off += pb_frag6(b + off, IPPROTO_UDP, 0, 1, 0xcafef00d);
    off += pb_udp(b + off, 4000, 4001, 2000);
    memcpy(b + off, "frag", 4);
    off += 4;
    const struct expect first[] = {
        {NURS_PKTF_FAMILY, "ipv6", 1},            {NURS_PKTF_PROTO, "udp", 48},
        {NURS_PKTF_PROTONUM, "17", 48},           {NURS_PKTF_SRC, "2001:db8::a", 40},
        {NURS_PKTF_DST, "2001:db8::b", 40},       {NURS_PKTF_TTL, "255", 40},
        {NURS_PKTF_TOS, "184", 40},               {NURS_PKTF_FLOWLABEL, "74565", 40},
        {NURS_PKTF_IP_LEN, "60", 40},             {NURS_PKTF_FRAG_OFFSET, "0", 48},
        {NURS_PKTF_FRAG_MORE, "true", 48},        {NURS_PKTF_FRAG_ID, "3405705229", 48},
        {NURS_PKTF_SPORT, "4000", 52},            {NURS_PKTF_DPORT, "4001", 52},
        {NURS_PKTF_UDP_LEN, "2000", 54},          {NURS_PKTF_PAYLOAD_OFFSET, "56", 54},
        {NURS_PKTF_PAYLOAD_LEN, "1992", 54},
    };
    CHECK("ipv6 first fragment", b, off, first, "[frag]");

    pb_frag6(b + 40, IPPROTO_UDP, 1232, 0, 0xcafef00d);
    const struct expect later[] = {
        {NURS_PKTF_FAMILY, "ipv6", 1},            {NURS_PKTF_PROTO, "udp", 48},
        {NURS_PKTF_PROTONUM, "17", 48},           {NURS_PKTF_SRC, "2001:db8::a", 40},
        {NURS_PKTF_DST, "2001:db8::b", 40},       {NURS_PKTF_TTL, "255", 40},
        {NURS_PKTF_TOS, "184", 40},               {NURS_PKTF_FLOWLABEL, "74565", 40},
        {NURS_PKTF_IP_LEN, "60", 40},             {NURS_PKTF_FRAG_OFFSET, "1232", 48},
        {NURS_PKTF_FRAG_MORE, "false", 48},       {NURS_PKTF_FRAG_ID, "3405705229", 48},
    };
    CHECK("ipv6 later fragment", b, off, later, NULL);
}

static void test_ipv6_icmp(void)
{
    uint8_t b[64];
    size_t ip = pb_ipv6(b, IPPROTO_ICMPV6, "::1", "::1", 8);
    pb_icmp(b + ip, 128, 0, 77, 1);
    const struct expect echo[] = {
        {NURS_PKTF_FAMILY, "ipv6", 1},    {NURS_PKTF_PROTO, "icmpv6", 40},
        {NURS_PKTF_PROTONUM, "58", 40},   {NURS_PKTF_SRC, "::1", 40},
        {NURS_PKTF_DST, "::1", 40},       {NURS_PKTF_TTL, "255", 40},
        {NURS_PKTF_TOS, "184", 40},       {NURS_PKTF_FLOWLABEL, "74565", 40},
        {NURS_PKTF_IP_LEN, "48", 40},     {NURS_PKTF_TYPE, "128", 42},
        {NURS_PKTF_CODE, "0", 42},        {NURS_PKTF_ICMP_ID, "77", 48},
        {NURS_PKTF_ICMP_SEQ, "1", 48},    {NURS_PKTF_PAYLOAD_OFFSET, "48", 40},
        {NURS_PKTF_PAYLOAD_LEN, "0", 40},
    };
    CHECK("ipv6 icmpv6 echo", b, ip + 8, echo, "[]");

    /* Neighbour solicitation (135): no echo id. */
    pb_icmp(b + ip, 135, 0, 0, 0);
    struct texts t;
    view(b, ip + 8, NURS_PKT_L3_ANY, &t, NULL, 0);
    tap_ok(!strcmp(t.v[NURS_PKTF_TYPE], "135") && !t.v[NURS_PKTF_ICMP_ID][0],
           "icmpv6 135: type, no echo id");
}

static void test_ipv6_limits(void)
{
    uint8_t b[512];
    struct texts t;
    char pay[64];

    /* Exactly NURS_PKT_MAX_EXTHDRS extension headers are walked... */
    for (int extra = 0; extra <= 1; extra++) {
        int n = NURS_PKT_MAX_EXTHDRS + extra;
        size_t off = pb_ipv6(b, IPPROTO_DSTOPTS, "::1", "::2", 0);
        for (int i = 0; i < n; i++)
            off += pb_ext(b + off, i == n - 1 ? IPPROTO_UDP : IPPROTO_DSTOPTS, 0);
        off += pb_udp(b + off, 1, 2, 8);
        pb_put16(b + 4, (uint16_t)(off - 40));
        view(b, off, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
        if (extra == 0)
            tap_ok(!strcmp(t.v[NURS_PKTF_PROTO], "udp") && !strcmp(t.v[NURS_PKTF_DPORT], "2"),
                   "%d extension headers are walked", n);
        else
            tap_ok(!t.v[NURS_PKTF_PROTO][0] && !t.v[NURS_PKTF_DPORT][0] && !pay[0],
                   "%d extension headers: no protocol, no L4 (bounded walk)", n);
    }

    /* No next header (59): protocol 59, nothing above. */
    size_t off = pb_ipv6(b, IPPROTO_NONE, "::1", "::2", 4);
    memcpy(b + off, "junk", 4);
    view(b, off + 4, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_ok(!strcmp(t.v[NURS_PKTF_PROTONUM], "59") && !t.v[NURS_PKTF_PAYLOAD_LEN][0] && !pay[0],
           "no next header: protocol 59, no payload");

    /* An extension header claiming to run past the packet. */
    off = pb_ipv6(b, IPPROTO_HOPOPTS, "::1", "::2", 16);
    memset(b + off, 0, 16);
    b[off] = IPPROTO_TCP;
    b[off + 1] = 200; /* 1608 bytes */
    view(b, 56, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_ok(!strcmp(t.v[NURS_PKTF_PROTO], "tcp") && !t.v[NURS_PKTF_SPORT][0] &&
               !t.v[NURS_PKTF_PAYLOAD_LEN][0],
           "extension header longer than the packet: no ports, no payload");

    /* Payload length 0 (jumbogram or offload): ip_len absent. */
    off = pb_ipv6(b, IPPROTO_UDP, "::1", "::2", 0);
    pb_udp(b + off, 1, 2, 0);
    memcpy(b + off + 8, "jumbo", 5);
    view(b, off + 13, NURS_PKT_L3_ANY, &t, pay, sizeof pay);
    tap_ok(!t.v[NURS_PKTF_IP_LEN][0] && !strcmp(pay, "[jumbo]"),
           "payload length 0: ip_len absent, payload from the capture");
}

static void test_flag_text(void)
{
    char buf[10];
    struct {
        uint16_t bits;
        const char *text;
    } cases[] = {
        {0x002, "S"},  {0x012, "S."},   {0x010, "."},   {0x018, "P."},
        {0x019, "FP."}, {0x004, "R"},   {0x014, "R."},  {0x000, "none"},
        {0x0c2, "SEW"}, {0x1ff, "FSRP.UEWe"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        nurs_pkt_tcp_flags_text(cases[i].bits, buf);
        char what[48];
        snprintf(what, sizeof what, "tcp flags 0x%03x as tcpdump prints them", cases[i].bits);
        tap_is_str(buf, cases[i].text, what);
    }
}

int main(void)
{
    test_ipv4_tcp();
    test_ipv4_udp_options();
    test_ipv4_icmp();
    test_ipv4_fragments();
    test_ipv4_malformed();
    test_hints();
    test_ipv6_tcp();
    test_ipv6_ext_chain();
    test_ipv6_fragments();
    test_ipv6_icmp();
    test_ipv6_limits();
    test_flag_text();
    return tap_done();
}
