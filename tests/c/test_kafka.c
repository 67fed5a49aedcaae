/* The Kafka sink's pure parts: FlowMessages against golden bytes made by
 * protoc --encode from schema/nurs_flow.proto (not by protobuf-c), the
 * message key template, the broker list check, the schemas' version. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "core/schema.h"
#include "netlink/ct_msg.h"
#include "netlink/ct_synth.h"
#include "sinks/kafka/flowpb.h"
#include "sinks/kafka/key.h"
#include "sinks/kafka/producer.h"
#include "tap.h"

/* protoc --encode=nurs.flow.FlowMessage nurs_flow.proto of: an IPv4 TCP
 * flow, NATed, with the process at its source. */
static const uint8_t golden_v4[] = {
    0x08, 0x04, 0x18, 0x01, 0x20, 0x2a, 0x32, 0x04, 0x0a, 0x00, 0x00, 0x01, 0x3a, 0x04, 0xc0,
    0x00, 0x02, 0x01, 0x48, 0xe8, 0x07, 0x50, 0x0a, 0x5a, 0x04, 0xc0, 0x00, 0x02, 0x63, 0xa0,
    0x01, 0x06, 0xa8, 0x01, 0xe8, 0x07, 0xb0, 0x01, 0x50, 0xf0, 0x01, 0x80, 0x10, 0xb0, 0x04,
    0x07, 0xf0, 0x06, 0x95, 0x9a, 0x97, 0xec, 0xe3, 0x9f, 0xe7, 0xcb, 0x17, 0xf8, 0x06, 0x80,
    0xb8, 0xf8, 0x90, 0xbe, 0x9f, 0xe7, 0xcb, 0x17, 0x80, 0x07, 0x80, 0x80, 0xa8, 0xb1, 0xe3,
    0x9f, 0xe7, 0xcb, 0x17, 0xc0, 0x3e, 0x03, 0xc8, 0x3e, 0x4d, 0xd0, 0x3e, 0x42, 0xd8, 0x3e,
    0x03, 0xe0, 0x3e, 0x01, 0x92, 0x3f, 0x04, 0xc6, 0x33, 0x64, 0x09, 0x9a, 0x3f, 0x04, 0x0a,
    0x02, 0x02, 0x02, 0xa0, 0x3f, 0xc0, 0xb8, 0x02, 0xa8, 0x3f, 0x90, 0x3f, 0x80, 0x7d, 0xd2,
    0x09, 0x8a, 0x7d, 0x04, 0x63, 0x75, 0x72, 0x6c, 0x90, 0x7d, 0xe8, 0x07, 0x9a, 0x7d, 0x05,
    0x61, 0x6c, 0x69, 0x63, 0x65, 0xa2, 0x7d, 0x0f, 0x73, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e,
    0x2d, 0x32, 0x2e, 0x73, 0x63, 0x6f, 0x70, 0x65, 0xb2, 0x7d, 0x19, 0x63, 0x75, 0x72, 0x6c,
    0x20, 0x68, 0x74, 0x74, 0x70, 0x73, 0x3a, 0x2f, 0x2f, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c,
    0x65, 0x2e, 0x6f, 0x72, 0x67, 0x2f, 0xc0, 0x7d, 0x01};

/* The same of an IPv6 ICMPv6 biflow whose destination's socket was found
 * without its process (pid 0, uid unknown). */
static const uint8_t golden_v6_biflow[] = {
    0x08, 0x04, 0x18, 0x01, 0x20, 0x01, 0x32, 0x10, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x3a, 0x10, 0xfd, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x48, 0xc0, 0x01,
    0x50, 0x02, 0xa0, 0x01, 0x3a, 0xf0, 0x01, 0xdd, 0x8d, 0x02, 0xf8, 0x01, 0x80, 0x01, 0xf0,
    0x06, 0x05, 0xf8, 0x06, 0x03, 0x80, 0x07, 0x04, 0xc0, 0x3e, 0x01, 0xc8, 0x3e, 0x09, 0xe0,
    0x3e, 0x01, 0xe0, 0x3f, 0x60, 0xe8, 0x3f, 0x01, 0xb0, 0x7e, 0xff, 0xff, 0xff, 0xff, 0x0f,
    0xe0, 0x7e, 0x01};

static void addr(uint8_t out[16], int family, const char *text)
{
    memset(out, 0, 16);
    inet_pton(family, text, out);
}

static bool same(const uint8_t *got, size_t n, const uint8_t *want, size_t wn)
{
    return n == wn && memcmp(got, want, n) == 0;
}

static void test_golden(void)
{
    struct nurs_proc curl = {.pid = 1234, .uid = 1000, .fd = 3, .name = "curl",
                             .cmdline = "curl https://example.org/", .user = "alice",
                             .unit = "session-2.scope"};
    struct nurs_flow f = {.nat = true, .counted = true, .ip_version = 4, .proto = 6,
                          .sport = 1000, .dport = 80, .post_sport = 40000, .post_dport = 8080,
                          .end_reason = 3, .biflow_direction = 1, .mark = 66, .flow_id = 77,
                          .octets = 1000, .packets = 10, .start_ns = 1699999990000000000ull,
                          .end_ns = 1700000000000000000ull, .src_proc = &curl};
    addr(f.src, AF_INET, "10.0.0.1");
    addr(f.dst, AF_INET, "192.0.2.1");
    addr(f.post_src, AF_INET, "198.51.100.9");
    addr(f.post_dst, AF_INET, "10.2.2.2");
    uint8_t sampler[4];
    inet_pton(AF_INET, "192.0.2.99", sampler);
    struct nurs_flowpb_meta meta = {.time_received_ns = 1700000000123456789ull,
                                    .sequence_num = 42, .domain = 7, .zone = 3,
                                    .sampler_address = sampler, .sampler_address_len = 4};
    uint8_t buf[2048];
    size_t n = nurs_flowpb_encode(&f, NULL, &meta, buf, sizeof buf);
    tap_ok(same(buf, n, golden_v4, sizeof golden_v4), "IPv4 NATed flow with a process: protoc's bytes");
    meta.length_prefix = true;
    n = nurs_flowpb_encode(&f, NULL, &meta, buf, sizeof buf);
    tap_ok(n == sizeof golden_v4 + 2 && buf[0] == 0xbd && buf[1] == 0x01 &&
               memcmp(buf + 2, golden_v4, sizeof golden_v4) == 0,
           "length-prefixed: varint 189, then the same bytes");
    uint8_t small[32];
    size_t need = nurs_flowpb_encode(&f, NULL, &meta, small, sizeof small);
    tap_ok(need > sizeof small && need <= sizeof buf, "too small a buffer: more room asked (%zu)",
           need);
    static uint8_t grown[2048];
    tap_ok(nurs_flowpb_encode(&f, NULL, &meta, grown, need) == n && memcmp(grown, buf, n) == 0,
           "with that room: the same bytes");
    meta.length_prefix = false;
    f.src_proc = NULL;
    f.nat = false;
    n = nurs_flowpb_encode(&f, NULL, &meta, buf, sizeof buf);
    meta.length_prefix = true;
    tap_ok(nurs_flowpb_encode(&f, NULL, &meta, grown, sizeof grown) == n + 1 && grown[0] == n &&
               memcmp(grown + 1, buf, n) == 0,
           "a message under 128 bytes: a 1-byte prefix (%zu)", n);

    struct nurs_proc gone = {.pid = 0, .uid = 0xffffffffu, .fd = -1};
    struct nurs_flow g = {.icmp = true, .icmp_type = 128, .counted = true, .ip_version = 6,
                          .proto = 58, .end_reason = 1, .biflow_direction = 1, .flow_id = 9,
                          .octets = 192, .packets = 2, .start_ns = 3, .end_ns = 4,
                          .dst_proc = &gone};
    struct nurs_flow rev = {.octets = 96, .packets = 1};
    addr(g.src, AF_INET6, "fd00::1");
    addr(g.dst, AF_INET6, "fd00::2");
    struct nurs_flowpb_meta m2 = {.time_received_ns = 5, .sequence_num = 1};
    n = nurs_flowpb_encode(&g, &rev, &m2, buf, sizeof buf);
    tap_ok(same(buf, n, golden_v6_biflow, sizeof golden_v6_biflow),
           "IPv6 ICMP biflow, process gone: protoc's bytes");
}

static void test_values(void)
{
    struct nurs_flowpb_values *v = nurs_flowpb_values_new();
    tap_is_int(nurs_flowpb_field_kind("src_addr"), NURS_FLOWPB_BYTES, "src_addr: bytes");
    tap_is_int(nurs_flowpb_field_kind("ct_id"), NURS_FLOWPB_UINT, "ct_id: uint");
    tap_is_int(nurs_flowpb_field_kind("type"), NURS_FLOWPB_ENUM, "type: enum");
    tap_is_int(nurs_flowpb_field_kind("nope"), NURS_FLOWPB_UNKNOWN, "unknown field");
    tap_ok(!nurs_flowpb_values_set_uint(v, "proto", 1ull << 32), "uint32 overflow refused");
    tap_ok(!nurs_flowpb_values_set_uint(v, "type", 9), "enum value out of range refused");
    tap_ok(!nurs_flowpb_values_set_bytes(v, "proto", "x", 1), "bytes into a number refused");
    /* The golden IPv6 message, field by field. */
    uint8_t a[16], b[16];
    addr(a, AF_INET6, "fd00::1");
    addr(b, AF_INET6, "fd00::2");
    const struct {
        const char *name;
        uint64_t v;
    } u[] = {{"type", 4},           {"sampling_rate", 1},     {"sequence_num", 1},
             {"bytes", 192},        {"packets", 2},           {"proto", 58},
             {"etype", 0x86dd},     {"icmp_type", 128},       {"time_received_ns", 5},
             {"time_flow_start_ns", 3}, {"time_flow_end_ns", 4}, {"flow_end_reason", 1},
             {"ct_id", 9},          {"ct_direction", 1},      {"reverse_bytes", 96},
             {"reverse_packets", 1}, {"dst_uid", 0xffffffffu}, {"dst_attributed", 1}};
    bool ok = nurs_flowpb_values_set_bytes(v, "src_addr", a, 16) &&
              nurs_flowpb_values_set_bytes(v, "dst_addr", b, 16);
    for (size_t i = 0; i < sizeof u / sizeof *u; i++)
        ok &= nurs_flowpb_values_set_uint(v, u[i].name, u[i].v);
    uint8_t buf[2048];
    size_t n = nurs_flowpb_values_encode(v, false, buf, sizeof buf);
    tap_ok(ok && same(buf, n, golden_v6_biflow, sizeof golden_v6_biflow),
           "a message set by field names: the same bytes");
    nurs_flowpb_values_free(v);
}

static uint8_t msgbuf[2048] __attribute__((aligned(4)));

static bool parse(struct nurs_ct_msg *m, const struct nurs_ct_synth *c, bool new_event)
{
    const char *why;
    size_t n = new_event ? nurs_ct_synth_new(msgbuf, sizeof msgbuf, c)
                         : nurs_ct_synth_destroy(msgbuf, sizeof msgbuf, c);
    return n && nurs_ct_msg_parse(m, (const struct nlmsghdr *)msgbuf, false, &why) == 0;
}

static struct nurs_ct_synth tcp_entry(void)
{
    struct nurs_ct_synth c = {.family = AF_INET, .proto = 6, .sport = 1000, .dport = 80,
                              .rsport = 80, .rdport = 1000, .id = 77, .zone = 5,
                              .status = IPS_CONFIRMED, .mark = 0x42, .packets = {10, 8},
                              .bytes = {1000, 5000}, .tcp_state = TCP_CONNTRACK_TIME_WAIT};
    inet_pton(AF_INET, "10.0.0.1", c.src);
    inet_pton(AF_INET, "192.0.2.1", c.dst);
    inet_pton(AF_INET, "192.0.2.1", c.rsrc);
    inet_pton(AF_INET, "10.0.0.1", c.rdst);
    return c;
}

static void test_key(void)
{
    struct nurs_kafka_key k;
    char err[256], out[128];
    struct nurs_ct_synth c = tcp_entry();
    struct nurs_ct_msg m;
    tap_ok(parse(&m, &c, false), "entry parses");
    tap_is_int(nurs_kafka_key_compile(&k, "id", err, sizeof err), 0, "a field");
    size_t n = nurs_kafka_key_ct(&k, &m, out, sizeof out);
    tap_ok(n == 2 && memcmp(out, "77", 2) == 0, "id: 77");
    tap_is_int(nurs_kafka_key_compile(&k, "{proto}/{orig.src}:{orig.sport}>{reply.src}#{mark}",
                                      err, sizeof err), 0, "a template");
    n = nurs_kafka_key_ct(&k, &m, out, sizeof out);
    out[n] = '\0';
    tap_is_str(out, "tcp/10.0.0.1:1000>192.0.2.1#66", "template filled");
    tap_is_int(nurs_kafka_key_compile(&k, "{process}-{master.src}-{nope}", err, sizeof err), 0,
               "absent and non-scalar fields");
    n = nurs_kafka_key_ct(&k, &m, out, sizeof out);
    tap_ok(n == 2 && memcmp(out, "--", 2) == 0, "are empty");
    tap_is_str(nurs_kafka_key_unknown_field(&k), "nope", "the unknown name is told");
    tap_is_int(nurs_kafka_key_compile(&k, "{id}:{orig.bytes}", err, sizeof err), 0, "cut");
    n = nurs_kafka_key_ct(&k, &m, out, 5);
    tap_ok(n == 5 && memcmp(out, "77:10", 5) == 0, "a key is cut at the room it has");
    c.id = 4294967295u;
    c.mark = 0;
    parse(&m, &c, false);
    tap_is_int(nurs_kafka_key_compile(&k, "{id}/{mark}", err, sizeof err), 0, "numbers");
    n = nurs_kafka_key_ct(&k, &m, out, sizeof out);
    out[n] = '\0';
    tap_is_str(out, "4294967295/", "the largest id; no mark (a zero one is not sent): empty");
    tap_is_int(nurs_kafka_key_compile(&k, "{id", err, sizeof err), -1, "unclosed {");
    tap_is_int(nurs_kafka_key_compile(&k, "id}", err, sizeof err), -1, "} alone");
    tap_is_int(nurs_kafka_key_compile(&k, "{}", err, sizeof err), -1, "empty name");
    tap_is_int(nurs_kafka_key_compile(&k, "{a b}", err, sizeof err), -1, "not a name");
    tap_is_int(nurs_kafka_key_compile(&k, "{.a}", err, sizeof err), -1, "leading dot");
}

static void test_brokers(void)
{
    char err[256];
    const char *good[] = {"k1:9092", "k1", "10.0.0.1:9092,10.0.0.2:9093", "[2001:db8::1]:9092",
                          "SSL://broker.example.org:9093", "sasl_ssl://b:1"};
    const char *bad[] = {"", "k1:", ":9092", "k1:0", "k1:65536", "k1:9x", "a,,b", "[::1",
                         "k 1:9092", "k1:9092,", "[]:1", "k1:9092:1"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        tap_is_int(nurs_kafka_brokers_check(good[i], err, sizeof err), 0, good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        tap_is_int(nurs_kafka_brokers_check(bad[i], err, sizeof err), -1, bad[i]);
}

/* Both published schemas say the version records carry. */
static void test_schema_version(void)
{
    char json[64], proto[64];
    snprintf(json, sizeof json, "\"x-nurs-schema-version\": %d,", NURS_SCHEMA_VERSION);
    snprintf(proto, sizeof proto, "// Schema version %d.", NURS_SCHEMA_VERSION);
    tap_ok(strstr(nurs_schema_json, json) != NULL, "the JSON Schema is version %d",
           NURS_SCHEMA_VERSION);
    tap_ok(strstr(nurs_schema_proto, proto) != NULL, "the .proto is version %d",
           NURS_SCHEMA_VERSION);
}

int main(void)
{
    test_schema_version();
    test_golden();
    test_values();
    test_key();
    test_brokers();
    return tap_done();
}
