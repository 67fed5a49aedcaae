/* libFuzzer target: arbitrary bytes as a conntrack netlink datagram, each
 * entry mapped to its flows and encoded as NetFlow v9 and IPFIX records
 * with every element a conntrack entry fills, into messages of a size the
 * input picks. Every finished message must be as long as its sets say. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "netlink/ct_msg.h"
#include "netlink/socket.h"
#include "sinks/flow/encoder.h"
#include "sinks/flow/flow.h"
#include "sinks/flow/template.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ipv4_names[] = {
    "sourceIPv4Address", "destinationIPv4Address", "postNATSourceIPv4Address",
    "postNATDestinationIPv4Address", "icmpTypeCodeIPv4", "icmpTypeIPv4", "icmpCodeIPv4", NULL};
static const char *const ipv6_names[] = {
    "sourceIPv6Address", "destinationIPv6Address", "postNATSourceIPv6Address",
    "postNATDestinationIPv6Address", "icmpTypeCodeIPv6", "icmpTypeIPv6", "icmpCodeIPv6", NULL};
static const char *const common[] = {
    "sourceTransportPort", "destinationTransportPort", "postNAPTSourceTransportPort",
    "postNAPTDestinationTransportPort", "protocolIdentifier", "ipVersion", "octetDeltaCount",
    "packetDeltaCount", "flowStartSysUpTime", "flowEndSysUpTime", "flowStartSeconds",
    "flowEndMilliseconds", "flowStartMicroseconds", "flowEndNanoseconds",
    "flowDurationMilliseconds", "flowEndReason", "flowDirection", "biflowDirection", "flowId",
    "initiatorOctets", "responderPackets", "ingressInterface", NULL};

static void build(struct nurs_template *t, uint16_t id, const char *const *family, bool ipfix)
{
    char err[256];
    nurs_template_init(t, "fuzz");
    for (const char *const *n = family; *n; n++)
        nurs_template_add(t, *n, 0, err, sizeof err);
    for (const char *const *n = common; *n; n++)
        nurs_template_add(t, *n, 0, err, sizeof err);
    if (ipfix) {
        nurs_template_add(t, "reverseOctetDeltaCount", 0, err, sizeof err);
        nurs_template_add(t, "userName", 0, err, sizeof err);
        nurs_template_add(t, "netfilterMark", 0, err, sizeof err);
    }
    if (nurs_template_finish(t, !ipfix, err, sizeof err) < 0)
        abort();
    t->id = id;
}

/* The header and set lengths must add up to what the encoder returned. */
static void check(const uint8_t *msg, size_t len, size_t cap, bool ipfix)
{
    size_t off = ipfix ? NURS_IPFIX_HEADER_LEN : NURS_V9_HEADER_LEN;
    if (len > cap || len < off)
        abort();
    if (ipfix && ((size_t)msg[2] << 8 | msg[3]) != len)
        abort();
    while (off < len) {
        size_t set = (size_t)msg[off + 2] << 8 | msg[off + 3];
        if (set < 4 || set % 4 || off + set > len)
            abort();
        off += set;
    }
}

static void encode(bool ipfix, size_t cap, const struct nurs_template *t, struct nurs_flow f[2],
                   const struct nurs_fvalue *vals)
{
    uint8_t *buf = malloc(cap);
    if (!buf)
        return;
    struct nurs_enc e;
    nurs_enc_begin(&e, ipfix ? NURS_IPFIX : NURS_NETFLOW9, buf, cap, 1000);
    nurs_enc_add_template(&e, t);
    for (int round = 0; round < 3; round++) {
        if (t->biflow)
            nurs_enc_add_record(&e, t, &f[0], &f[1], vals);
        else
            for (int d = 0; d < 2; d++)
                nurs_enc_add_record(&e, t, &f[d], NULL, vals);
    }
    struct nurs_enc_header h = {.export_secs = 1, .sequence = 2, .domain = 3};
    size_t len = nurs_enc_finish(&e, &h);
    check(buf, len, ipfix && cap > NURS_IPFIX_MAX_MESSAGE ? NURS_IPFIX_MAX_MESSAGE : cap, ipfix);
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct nurs_template t9[2], tx[2];
    static bool built;
    if (!built) {
        build(&t9[0], 256, ipv4_names, false);
        build(&t9[1], 257, ipv6_names, false);
        build(&tx[0], 258, ipv4_names, true);
        build(&tx[1], 259, ipv6_names, true);
        built = true;
    }
    void *buf = nurs_fuzz_copy(data, size);
    if (!buf)
        return 0;
    /* The message size and a variable-length value come from the input. */
    size_t cap = 64 + (size ? data[0] * 8u : 0);
    struct nurs_fvalue vals[NURS_TEMPLATE_MAX] = {0};
    int user = nurs_template_find(&tx[0], "userName");
    vals[user] = (struct nurs_fvalue){.kind = NURS_FV_BYTES, .p = data, .len = size};
    size_t left = size;
    for (const struct nlmsghdr *nlh = buf; nurs_nlmsg_ok(nlh, left);
         nlh = nurs_nlmsg_next(nlh, &left)) {
        struct nurs_ct_msg m;
        const char *why;
        if (nurs_ct_msg_parse(&m, nlh, false, &why) < 0)
            continue;
        struct nurs_flow f[2];
        if (!nurs_flows_from_ct(&m, f))
            continue;
        uint64_t start = 0, stop = 0;
        nurs_ct_timestamp(&m, false, &start);
        nurs_ct_timestamp(&m, true, &stop);
        for (int d = 0; d < 2; d++) {
            f[d].start_ns = start;
            f[d].end_ns = stop;
            f[d].end_reason = (uint8_t)nurs_ct_end_reason(&m);
        }
        int v6 = f[0].ip_version == 6;
        encode(false, cap, &t9[v6], f, NULL);
        encode(true, cap, &tx[v6], f, vals);
    }
    free(buf);
    return 0;
}
