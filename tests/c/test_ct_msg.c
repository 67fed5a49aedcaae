/* The conntrack decoder against messages the kernel sent (fixtures
 * captured in a namespace, see fixtures/README.md) and against malformed
 * and truncated ones, which must be rejected or read as absent fields,
 * never read out of bounds (run under ASan in CI). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ct_build.h"
#include "netlink/ct_msg.h"
#include "records/ct_fields.h"
#include "ct_fixture.h"
#include "netlink/socket.h"
#include "tap.h"

/* An emitter that only counts, to walk every field of a record. */
static void c_begin(void *ctx, const char *key) { (void)key; ++*(int *)ctx; }
static void c_end(void *ctx) { (void)ctx; }
static void c_int(void *ctx, const char *key, long long v) { (void)key; (void)v; ++*(int *)ctx; }
static volatile char touched;
static void c_str(void *ctx, const char *key, const char *s, size_t len)
{
    (void)key;
    /* Touch every byte so ASan sees any overread. */
    for (size_t i = 0; i < len; i++)
        touched ^= s[i];
    ++*(int *)ctx;
}
static const struct nurs_emit counting = {c_begin, c_end, c_begin, c_end, c_int, c_str, NULL};

static int walk(struct nurs_ct_msg *m)
{
    int n = 0;
    nurs_ct_emit_record(m, &counting, &n);
    return n;
}

static void test_truncations(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ct_build_opts o = {
        .family = AF_INET6, .msg_type = IPCTNL_MSG_CT_DELETE, .proto = 6,
        .src = "fd00::1", .dst = "fd00::2", .sport = 1, .dport = 2, .packets = {1, 1},
        .bytes = {60, 60}, .status = IPS_CONFIRMED, .tcp_state = 3, .start_ns = 1,
        .stop_ns = 2, .helper = "ftp",
    };
    struct nlmsghdr *full = ct_build(buf, &o);
    uint32_t len = full->nlmsg_len;
    int parsed = 0, rejected = 0;
    for (uint32_t cut = 0; cut <= len; cut++) {
        /* A fresh heap copy of exactly `cut` bytes: ASan catches overreads. */
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, buf, cut);
        const struct nlmsghdr *nlh = (const struct nlmsghdr *)copy;
        if (!nurs_nlmsg_ok(nlh, cut)) {
            rejected++;
            free(copy);
            continue;
        }
        struct nurs_ct_msg m;
        const char *why;
        if (nurs_ct_msg_parse(&m, nlh, false, &why) == 0) {
            parsed++;
            walk(&m);
        } else {
            rejected++;
        }
        free(copy);
    }
    tap_ok(parsed == 1 && rejected == (int)len, "every truncation of a message is rejected "
           "by the framing check (%d parsed, %d rejected)", parsed, rejected);

    /* Now lie inside: shrink nlmsg_len but keep attributes claiming more. */
    int inner_parsed = 0, inner_rejected = 0;
    for (uint32_t cut = NLMSG_HDRLEN; cut < len; cut++) {
        unsigned char *copy = malloc(len);
        memcpy(copy, buf, len);
        ((struct nlmsghdr *)copy)->nlmsg_len = cut;
        struct nurs_ct_msg m;
        const char *why;
        if (nurs_ct_msg_parse(&m, (struct nlmsghdr *)copy, false, &why) == 0) {
            inner_parsed++;
            walk(&m);
        } else {
            inner_rejected++;
        }
        free(copy);
    }
    tap_ok(inner_rejected > 0, "messages cut inside an attribute are rejected or read "
           "partially (%d rejected, %d partial, no overread)", inner_rejected, inner_parsed);
}

static void test_corrupt_nests(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ct_build_opts o = {
        .family = AF_INET, .msg_type = IPCTNL_MSG_CT_NEW, .proto = 17, .src = "1.2.3.4",
        .dst = "5.6.7.8", .sport = 53, .dport = 53, .packets = {1, 0}, .bytes = {70, 0},
        .status = IPS_CONFIRMED,
    };
    struct nlmsghdr *nlh = ct_build(buf, &o);
    /* Flip every byte, one at a time, to several values: parse and walk must
     * survive all of them. */
    static const unsigned char values[] = {0x00, 0x01, 0x04, 0x7f, 0x80, 0xff};
    int survived = 0;
    uint32_t len = nlh->nlmsg_len;
    for (uint32_t i = sizeof(struct nlmsghdr); i < len; i++) {
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char *copy = malloc(len);
            memcpy(copy, buf, len);
            copy[i] = values[v];
            struct nurs_ct_msg m;
            const char *why;
            if (nurs_ct_msg_parse(&m, (struct nlmsghdr *)copy, false, &why) == 0)
                walk(&m);
            survived++;
            free(copy);
        }
    }
    tap_ok(survived == (int)((len - sizeof(struct nlmsghdr)) * sizeof values),
           "%d single-byte corruptions decoded without fault", survived);

    /* A tuple whose IPv4 address attribute has the wrong length. */
    struct nurs_ct_msg m;
    const char *why;
    unsigned char *copy = malloc(len);
    memcpy(copy, buf, len);
    nurs_ct_msg_parse(&m, (struct nlmsghdr *)copy, false, &why);
    struct nlattr *orig = (struct nlattr *)m.tb[CTA_TUPLE_ORIG];
    struct nlattr *ip = mnl_attr_get_payload(orig);
    struct nlattr *v4src = mnl_attr_get_payload(ip);
    v4src->nla_len = 6; /* a u32 attribute that claims 2 bytes */
    nurs_ct_msg_parse(&m, (struct nlmsghdr *)copy, false, &why);
    char text[64];
    tap_ok(!nurs_ct_addr(&m, NURS_CT_ORIG, false, text, sizeof text),
           "malformed tuple reads as absent");
    uint8_t proto;
    tap_ok(!nurs_ct_protonum(&m, &proto), "whole malformed tuple is unreadable");
    free(copy);
}

static void test_huge_length(void)
{
    /* Found by fuzz_ct_msg: libmnl's mnl_nlmsg_ok() accepts this. */
    unsigned char bytes[16] = {0x4a, 0x9c, 0x9c, 0xb5, 0xb5, 0xb5, 0xb5, 0xb5,
                               0x9c, 0x9c, 0x9c, 0x9c, 0xa2, 0x9c, 0x9c, 0x9c};
    const struct nlmsghdr *nlh = (const struct nlmsghdr *)bytes;
    tap_ok(!nurs_nlmsg_ok(nlh, sizeof bytes), "a message length of 2^31 or more is refused");
    struct nlmsghdr ok = {.nlmsg_len = sizeof ok};
    size_t left = sizeof ok;
    tap_ok(nurs_nlmsg_ok(&ok, left), "an exact-size message is accepted");
    nurs_nlmsg_next(&ok, &left);
    tap_is_int((long long)left, 0, "nothing left after the last message");
    ok.nlmsg_len = sizeof ok + 1; /* claims padding that is not there */
    left = sizeof ok + 1;
    nurs_nlmsg_next(&ok, &left);
    tap_is_int((long long)left, 0, "missing alignment padding ends the walk");
}

static void test_ipv4_text(void)
{
    static const char *const cases[][2] = {
        {"0.0.0.0", "255.255.255.255"}, {"100.10.1.0", "9.99.199.250"}, {"10.0.0.1", "1.2.3.4"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[MNL_SOCKET_BUFFER_SIZE], src[64], dst[64];
        struct ct_build_opts o = {.family = AF_INET, .msg_type = IPCTNL_MSG_CT_NEW, .proto = 17,
                                  .src = cases[i][0], .dst = cases[i][1], .sport = 1, .dport = 2};
        struct nurs_ct_msg m;
        const char *why;
        nurs_ct_msg_parse(&m, ct_build(buf, &o), false, &why);
        nurs_ct_addr(&m, NURS_CT_ORIG, false, src, sizeof src);
        nurs_ct_addr(&m, NURS_CT_ORIG, true, dst, sizeof dst);
        tap_is_str(src, cases[i][0], "IPv4 source as text");
        tap_is_str(dst, cases[i][1], "IPv4 destination as text");
    }
}

/* A datagram cut three bytes short of its last attribute, nlmsg_len
 * saying so: libmnl accepted the attribute (it measured up to the aligned
 * length) and read past the datagram, where the sanitizers could not see
 * it. The attribute must be left out, nothing read past the end. */
static void test_unaligned_length(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct ct_build_opts o = {
        .family = AF_INET, .msg_type = IPCTNL_MSG_CT_NEW, .proto = 17, .src = "10.0.0.1",
        .dst = "10.0.0.2", .sport = 1, .dport = 2, .id = 77,
    };
    struct nlmsghdr *full = ct_build(buf, &o);
    uint32_t cut = full->nlmsg_len - 3;
    unsigned char *copy = malloc(cut);
    memcpy(copy, buf, cut);
    ((struct nlmsghdr *)copy)->nlmsg_len = cut;
    struct nurs_ct_msg m;
    const char *why = NULL;
    uint32_t id = 0;
    bool parsed = nurs_nlmsg_ok((struct nlmsghdr *)copy, cut) &&
                  nurs_ct_msg_parse(&m, (struct nlmsghdr *)copy, false, &why) == 0;
    if (parsed)
        walk(&m);
    tap_ok(!parsed || !nurs_ct_u32(&m, CTA_ID, &id),
           "an attribute cut by the end of an unaligned message is not read (%s)",
           parsed ? "parsed without it" : why);
    free(copy);
}

static void test_not_conntrack(void)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = NLMSG_ERROR;
    struct nurs_ct_msg m;
    const char *why = NULL;
    tap_ok(nurs_ct_msg_parse(&m, nlh, false, &why) < 0 && why, "non-conntrack message rejected");
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW;
    tap_ok(nurs_ct_msg_parse(&m, nlh, false, &why) < 0, "message without nfgenmsg rejected");
}

int main(void)
{
    test_truncations();
    test_corrupt_nests();
    test_not_conntrack();
    test_unaligned_length();
    test_huge_length();
    test_ipv4_text();
    test_kernel_fixtures();
    return tap_done();
}
