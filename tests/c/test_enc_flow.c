/* NetFlow v9 and IPFIX messages against golden bytes written out by hand
 * from RFC 3954 and RFC 7011 (and checked once with tshark): headers, template
 * and options template sets, data sets with padding, reduced-size and
 * variable-length fields, enterprise and reverse elements, withdrawals. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "sinks/flow/encoder.h"
#include "tap.h"
#include "sinks/flow/template.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = hex; *p && n < cap;) {
        if (*p == ' ' || *p == '\n' || *p == '|') {
            p++;
            continue;
        }
        unsigned v;
        if (sscanf(p, "%2x", &v) != 1)
            break;
        out[n++] = (uint8_t)v;
        p += 2;
    }
    return n;
}

static bool same_bytes(const uint8_t *got, size_t got_len, const char *want_hex, const char *what)
{
    uint8_t want[2048];
    size_t want_len = unhex(want_hex, want, sizeof want);
    bool ok = got_len == want_len && memcmp(got, want, got_len) == 0;
    if (!ok) {
        printf("# %s: got %zu bytes, want %zu\n", what, got_len, want_len);
        for (size_t i = 0; i < got_len || i < want_len; i++) {
            int g = i < got_len ? got[i] : -1, w = i < want_len ? want[i] : -1;
            if (g != w) {
                printf("#   first difference at byte %zu: got %02x want %02x\n", i, g & 0xff,
                       w & 0xff);
                break;
            }
        }
    }
    return tap_ok(ok, "%s", what);
}

static void add(struct nurs_template *t, const char *name, unsigned len)
{
    char err[256];
    if (nurs_template_add(t, name, len, err, sizeof err) < 0)
        printf("# %s\n", err);
}

#define MS(x) ((uint64_t)(x) * 1000000u)

static void test_v9(void)
{
    struct nurs_template t;
    nurs_template_init(&t, "ipv4");
    add(&t, "sourceIPv4Address", 0);
    add(&t, "destinationIPv4Address", 0);
    add(&t, "sourceTransportPort", 0);
    add(&t, "destinationTransportPort", 0);
    add(&t, "protocolIdentifier", 0);
    add(&t, "octetDeltaCount", 4);
    add(&t, "packetDeltaCount", 4);
    add(&t, "flowStartSysUpTime", 0);
    add(&t, "flowEndSysUpTime", 0);
    char err[256];
    tap_ok(nurs_template_finish(&t, true, err, sizeof err) == 0, "v9 template accepted");
    t.id = 256;
    tap_is_int(t.ip_version, 4, "template family");
    tap_is_int((long long)t.min_record_len, 29, "record length");

    uint64_t base = 1700000000000ull - 60000;
    struct nurs_flow a = {.ip_version = 4, .proto = 6, .sport = 1234, .dport = 80,
                          .octets = 1000, .packets = 10, .start_ns = MS(base + 1000),
                          .end_ns = MS(base + 2500)};
    inet_pton(AF_INET, "10.0.0.1", a.src);
    inet_pton(AF_INET, "10.0.0.2", a.dst);
    struct nurs_flow b = {.ip_version = 4, .proto = 1, .icmp = true, .icmp_type = 8,
                          .octets = 84, .packets = 1, .start_ns = MS(base + 1000),
                          .end_ns = MS(base + 1000)};
    memcpy(b.src, a.dst, 4);
    memcpy(b.dst, a.src, 4);

    uint8_t buf[1500];
    struct nurs_enc e;
    nurs_enc_begin(&e, NURS_NETFLOW9, buf, sizeof buf, base);
    tap_ok(nurs_enc_is_empty(&e), "a new message is empty");
    nurs_enc_add_template(&e, &t);
    nurs_enc_add_record(&e, &t, &a, NULL, NULL);
    nurs_enc_add_record(&e, &t, &b, NULL, NULL);
    struct nurs_enc_header h = {.sequence = 7, .domain = 42};
    nurs_enc_v9_clock(1700000000500ull, base, &h.export_secs, &h.sys_uptime_ms);
    tap_is_int(h.sys_uptime_ms, 61000, "sysUptime taken on the whole second of unix_secs, the next one");
    tap_is_int(h.export_secs, 1700000001, "unix_secs rounded up: no flow ends after sysUptime");
    size_t len = nurs_enc_finish(&e, &h);
    same_bytes(buf, len,
               /* header: version, count 3, uptime 61000, secs, sequence 7, source id 42 */
               "0009 0003 0000ee48 6553f101 00000007 0000002a"
               /* template flowset: id 0, 44 bytes; template 256 with 9 fields */
               "0000 002c 0100 0009"
               "0008 0004 000c 0004 0007 0002 000b 0002 0004 0001"
               "0001 0004 0002 0004 0016 0004 0015 0004"
               /* data flowset 256, 64 bytes: two 29-byte records and 2 bytes padding */
               "0100 0040"
               "0a000001 0a000002 04d2 0050 06 000003e8 0000000a 000003e8 000009c4"
               /* ICMP echo request: type 8 code 0 in the destination port */
               "0a000002 0a000001 0000 0800 01 00000054 00000001 000003e8 000003e8"
               "0000",
               "NetFlow v9: template and two records, padded, ICMP in the port");
}

static void test_ipfix_biflow(void)
{
    struct nurs_template t;
    nurs_template_init(&t, "v6bi");
    add(&t, "sourceIPv6Address", 0);
    add(&t, "destinationIPv6Address", 0);
    add(&t, "sourceTransportPort", 0);
    add(&t, "destinationTransportPort", 0);
    add(&t, "protocolIdentifier", 0);
    add(&t, "octetDeltaCount", 0);
    add(&t, "reverseOctetDeltaCount", 0);
    add(&t, "flowStartMilliseconds", 0);
    add(&t, "flowEndMilliseconds", 0);
    add(&t, "flowEndReason", 0);
    add(&t, "userName", 0);
    add(&t, "netfilterMark", 0);
    char err[256];
    tap_ok(nurs_template_finish(&t, false, err, sizeof err) == 0, "IPFIX template accepted");
    t.id = 300;
    tap_ok(t.biflow && t.varlen && t.ip_version == 6, "biflow, variable length, IPv6");
    tap_ok(nurs_template_finish(&t, true, err, sizeof err) < 0 &&
               strstr(err, "enterprise element") != NULL,
           "NetFlow v9 refuses enterprise elements: %s", err);

    struct nurs_flow fwd = {.ip_version = 6, .proto = 6, .sport = 40000, .dport = 443,
                            .octets = 5000, .start_ns = MS(1700000000123ull),
                            .end_ns = MS(1700000005456ull), .end_reason = NURS_END_OF_FLOW,
                            .mark = 0x1234};
    inet_pton(AF_INET6, "2001:db8::1", fwd.src);
    inet_pton(AF_INET6, "2001:db8::2", fwd.dst);
    struct nurs_flow rev = fwd;
    rev.octets = 7000;
    struct nurs_fvalue vals[NURS_TEMPLATE_MAX] = {0};
    int user = nurs_template_find(&t, "userName");
    vals[user] = (struct nurs_fvalue){.kind = NURS_FV_BYTES, .p = (const uint8_t *)"alice", .len = 5};

    uint8_t buf[1500];
    struct nurs_enc e;
    nurs_enc_begin(&e, NURS_IPFIX, buf, sizeof buf, 0);
    nurs_enc_add_template(&e, &t);
    nurs_enc_add_record(&e, &t, &fwd, &rev, vals);
    struct nurs_enc_header h = {.export_secs = 1700000000, .sequence = 1000, .domain = 1};
    size_t len = nurs_enc_finish(&e, &h);
    tap_is_int(e.tally.records, 1, "one data record for the sequence number");
    tap_is_int(e.tally.flows, 1, "a flow record");
    tap_is_int((long)e.tally.octets, 12000, "its octets, both directions of the biflow");
    same_bytes(buf, len,
               /* header: version 10, length 164, export time, sequence 1000, domain 1 */
               "000a 00a4 6553f100 000003e8 00000001"
               /* template set: id 2, 64 bytes; template 300, 12 fields */
               "0002 0040 012c 000c"
               "001b 0010 001c 0010 0007 0002 000b 0002 0004 0001 0001 0008"
               /* reverseOctetDeltaCount: enterprise bit, PEN 29305 */
               "8001 0008 00007279"
               "0098 0008 0099 0008 0088 0001"
               /* userName variable length; netfilter's mark, PEN 21373 */
               "0173 ffff 8004 0004 0000537d"
               /* data set 300, 84 bytes */
               "012c 0054"
               "20010db8000000000000000000000001 20010db8000000000000000000000002"
               "9c40 01bb 06 0000000000001388 0000000000001b58"
               "0000018bcfe5687b 0000018bcfe57d50 03"
               "05 616c696365 00001234",
               "IPFIX: biflow record with reverse, variable-length and enterprise fields");
}

static void test_ipfix_options_and_padding(void)
{
    struct nurs_template opt;
    nurs_template_init(&opt, "stats");
    add(&opt, "observationDomainId", 0);
    add(&opt, "exportedFlowRecordTotalCount", 0);
    add(&opt, "notSentFlowTotalCount", 0);
    opt.scope_n = 1;
    opt.id = 256;
    struct nurs_template one;
    nurs_template_init(&one, "proto");
    add(&one, "protocolIdentifier", 0);
    one.id = 257;

    struct nurs_fvalue vals[3] = {{.kind = NURS_FV_UINT, .u = 5},
                                  {.kind = NURS_FV_UINT, .u = 100},
                                  {.kind = NURS_FV_UINT, .u = 2}};
    struct nurs_flow udp = {.ip_version = 4, .proto = 17};
    uint8_t buf[1500];
    struct nurs_enc e;
    nurs_enc_begin(&e, NURS_IPFIX, buf, sizeof buf, 0);
    nurs_enc_add_template(&e, &opt);
    nurs_enc_add_record(&e, &opt, NULL, NULL, vals);
    nurs_enc_add_record(&e, &one, &udp, NULL, NULL);
    nurs_enc_withdraw_template(&e, 258, false);
    struct nurs_enc_header h = {.export_secs = 1700000000, .sequence = 0, .domain = 5};
    size_t len = nurs_enc_finish(&e, &h);
    tap_is_int(e.tally.records, 2, "options data records count as data records...");
    tap_is_int(e.tally.flows, 1, "...but not as flow records (exportedFlowRecordTotalCount)");
    same_bytes(buf, len,
               "000a 004e 6553f100 00000000 00000005"
               /* options template set: id 3, 22 bytes, no padding (decoders read
                * padding as a template); template 256, 3 fields, 1 scope field */
               "0003 0016 0100 0003 0001 0095 0004 002a 0008 00a6 0008"
               /* options data: domain 5, 100 exported, 2 not sent */
               "0100 0018 00000005 0000000000000064 0000000000000002"
               /* a 1-byte record: the set is padded to 8 bytes, padding counted */
               "0101 0008 11 000000"
               /* withdrawal of template 258 */
               "0002 0008 0102 0000",
               "IPFIX: options template and data, padded 1-byte record, withdrawal");

    /* NetFlow v9 lays options templates out in bytes. */
    struct nurs_template v9opt;
    nurs_template_init(&v9opt, "stats");
    char err[256];
    nurs_template_add_custom(&v9opt, "system", 1, 0, IE_T_U32, 4, err, sizeof err);
    add(&v9opt, "exportedMessageTotalCount", 4);
    v9opt.scope_n = 1;
    v9opt.id = 256;
    nurs_enc_begin(&e, NURS_NETFLOW9, buf, sizeof buf, 0);
    nurs_enc_add_template(&e, &v9opt);
    struct nurs_enc_header h9 = {.export_secs = 1, .sys_uptime_ms = 2, .sequence = 3, .domain = 4};
    len = nurs_enc_finish(&e, &h9);
    same_bytes(buf, len,
               "0009 0001 00000002 00000001 00000003 00000004"
               /* options template flowset id 1: scope length 4, option length 4, padded */
               "0001 0014 0100 0004 0004 0001 0004 0029 0004 0000",
               "NetFlow v9: options template");
}

static void test_limits(void)
{
    struct nurs_template t;
    nurs_template_init(&t, "x");
    char err[256];
    tap_ok(nurs_template_add(&t, "sourceIPv5Address", 0, err, sizeof err) < 0 &&
               strstr(err, "unknown information element 'sourceIPv5Address'"),
           "unknown names are refused by name: %s", err);
    tap_ok(nurs_template_add(&t, "sourceIPv4Address", 2, err, sizeof err) < 0 &&
               strstr(err, "cannot be 2 bytes"),
           "an address cannot be shortened: %s", err);
    tap_ok(nurs_template_add(&t, "reverseFlowEndReason", 0, err, sizeof err) < 0,
           "flowEndReason has no reverse element");
    nurs_template_add(&t, "sourceIPv4Address", 0, err, sizeof err);
    tap_ok(nurs_template_add(&t, "sourceIPv4Address", 0, err, sizeof err) < 0 &&
               strstr(err, "twice"),
           "an element only once per template");
    nurs_template_add(&t, "destinationIPv6Address", 0, err, sizeof err);
    tap_ok(nurs_template_finish(&t, false, err, sizeof err) < 0 && strstr(err, "mixes"),
           "IPv4 and IPv6 addresses do not mix: %s", err);

    struct nurs_template v;
    nurs_template_init(&v, "v");
    nurs_template_add(&v, "interfaceName", 0, err, sizeof err);
    tap_ok(nurs_template_finish(&v, true, err, sizeof err) < 0 && strstr(err, "length"),
           "NetFlow v9 needs a length for strings: %s", err);

    /* A record that does not fit leaves the message as it was. */
    struct nurs_template p;
    nurs_template_init(&p, "p");
    nurs_template_add(&p, "octetDeltaCount", 0, err, sizeof err);
    p.id = 300;
    uint8_t buf[64];
    struct nurs_enc e;
    nurs_enc_begin(&e, NURS_IPFIX, buf, 40, 0);
    struct nurs_flow f = {.octets = 1};
    int n = 0;
    while (nurs_enc_add_record(&e, &p, &f, NULL, NULL))
        n++;
    /* 16 header + 4 set header + 8 per record, and 8 bytes kept free after
     * the last record (the encoder's wide stores): one fits in 40, not two. */
    tap_is_int(n, 1, "records stop at the message size");
    struct nurs_enc_header h = {0};
    tap_ok(nurs_enc_finish(&e, &h) <= 40, "the message stays within its size");

    /* Reduced-size fields saturate instead of wrapping. */
    struct nurs_template r;
    nurs_template_init(&r, "r");
    nurs_template_add(&r, "octetDeltaCount", 4, err, sizeof err);
    r.id = 400;
    struct nurs_flow big = {.octets = 5000000000ull};
    nurs_enc_begin(&e, NURS_IPFIX, buf, sizeof buf, 0);
    nurs_enc_add_record(&e, &r, &big, NULL, NULL);
    size_t len = nurs_enc_finish(&e, &h);
    same_bytes(buf + 16, len - 16, "0190 0008 ffffffff", "a 4-byte counter saturates");
}

static void test_times(void)
{
    struct nurs_template t;
    char err[256];
    nurs_template_init(&t, "times");
    add(&t, "flowStartSeconds", 0);
    add(&t, "flowStartMicroseconds", 0);
    add(&t, "flowStartNanoseconds", 0);
    add(&t, "flowDurationMilliseconds", 0);
    nurs_template_finish(&t, false, err, sizeof err);
    t.id = 500;
    /* 2023-11-14T22:13:20.5Z plus 1 ns; lasting 1.5 s */
    struct nurs_flow f = {.start_ns = 1700000000500000001ull,
                          .end_ns = 1700000002000000001ull};
    uint8_t buf[128];
    struct nurs_enc e;
    nurs_enc_begin(&e, NURS_IPFIX, buf, sizeof buf, 0);
    nurs_enc_add_record(&e, &t, &f, NULL, NULL);
    struct nurs_enc_header h = {0};
    size_t len = nurs_enc_finish(&e, &h);
    /* NTP seconds 1700000000 + 2208988800 = 0xe8fe6f80; half a second is
     * 0x80000000 (+ 4 for the nanosecond), micro clears the low 11 bits. */
    same_bytes(buf + 16, len - 16,
               "01f4 001c 6553f100 e8fe6f80 80000000 e8fe6f80 80000004 000005dc",
               "seconds, NTP microseconds and nanoseconds, duration");
}

/* The processes at both ends of a flow: IPFIX variable-length strings
 * under enterprise 32473 (or the one the exporter is given), NetFlow v9
 * fixed lengths (cut between characters, zero padded) as vendor types
 * 32768 + id; unknown ends are zero and empty, an unknown uid all ones. */
static void test_process(void)
{
    static const char *const names[] = {"sourceProcessId", "sourceProcessName",
                                        "destinationProcessUserId", "userName", NULL};
    char err[256];
    struct nurs_template x, v9;
    nurs_template_init(&x, "px");
    nurs_template_init(&v9, "p9");
    for (const char *const *n = names; *n; n++) {
        add(&x, *n, 0);
        add(&v9, *n, strstr(*n, "Id") ? 0 : 6);
    }
    tap_ok(nurs_template_finish(&x, false, err, sizeof err) == 0 && x.process, "IPFIX process template");
    tap_ok(nurs_template_finish(&v9, true, err, sizeof err) == 0,
           "NetFlow v9 takes nurs-lua's own enterprise elements: %s", err);
    x.id = v9.id = 400;
    nurs_template_set_process_pen(&x, 4242);

    struct nurs_proc *curl = nurs_proc_new(&(struct nurs_proc_fields){
        .pid = 1234, .uid = 1000, .fd = 3, .name = "curl", .user = "\xc3\xa9lodie"});
    struct nurs_flow f = {.ip_version = 4, .proto = 6, .src_proc = curl, .local_proc = curl};
    uint8_t buf[1500];
    struct nurs_enc e;
    nurs_enc_begin(&e, NURS_IPFIX, buf, sizeof buf, 0);
    nurs_enc_add_template(&e, &x);
    nurs_enc_add_record(&e, &x, &f, NULL, NULL);
    size_t len = nurs_enc_finish(&e, &(struct nurs_enc_header){.export_secs = 1, .domain = 1});
    same_bytes(buf, len,
               "000a 0050 00000001 00000000 00000001"
               "0002 0024 0190 0004"
               /* enterprise 4242 instead of 32473; userName is IANA 371 */
               "8001 0004 00001092 8002 ffff 00001092 800e 0004 00001092 0173 ffff"
               "0190 001c"
               /* pid 1234, "curl", no destination process: uid all ones, "élodie" */
               "000004d2 04 6375726c ffffffff 07 c3a96c6f646965 000000",
               "IPFIX: the source's pid and name, an unknown destination, the local user");

    nurs_enc_begin(&e, NURS_NETFLOW9, buf, sizeof buf, 0);
    nurs_enc_add_template(&e, &v9);
    nurs_enc_add_record(&e, &v9, &f, NULL, NULL);
    len = nurs_enc_finish(&e, &(struct nurs_enc_header){.domain = 1});
    same_bytes(buf, len,
               "0009 0002 00000000 00000000 00000000 00000001"
               "0000 0018 0190 0004 8001 0004 8002 0006 800e 0004 0173 0006"
               "0190 0018"
               /* "curl" padded, "élodie" (7 bytes) cut to 6 */
               "000004d2 6375726c0000 ffffffff c3a96c6f6469",
               "NetFlow v9: vendor types 32768 + id, fixed lengths, zero padded");
    nurs_proc_unref(curl);

    struct nurs_proc *cut = nurs_proc_new(&(struct nurs_proc_fields){.pid = 1, .name = "abc\xc3\xa9\xc3\xa9"});
    f.src_proc = f.local_proc = cut;
    nurs_enc_begin(&e, NURS_NETFLOW9, buf, sizeof buf, 0);
    nurs_enc_add_record(&e, &v9, &f, NULL, NULL);
    len = nurs_enc_finish(&e, &(struct nurs_enc_header){0});
    tap_ok(len > 30 && memcmp(buf + 20 + 4 + 4, "abc\xc3\xa9\0", 6) == 0,
           "a fixed-length string is cut between characters");
    nurs_proc_unref(cut);
}

int main(void)
{
    test_v9();
    test_process();
    test_ipfix_biflow();
    test_ipfix_options_and_padding();
    test_limits();
    test_times();
    return tap_done();
}
