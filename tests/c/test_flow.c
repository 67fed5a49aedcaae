/* A conntrack entry to its two flows: addresses and ports per direction,
 * post-NAT values from the other direction's tuple, ICMP type and code of
 * each direction, counters, and why the flow ended. Entries are made by
 * ct-synth, laid out as the kernel sends them. */
#include <arpa/inet.h>
#include <string.h>

#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_conntrack_tcp.h>

#include "netlink/ct_msg.h"
#include "netlink/ct_synth.h"
#include "sinks/flow/flow.h"
#include "tap.h"

static uint8_t buf[2048] __attribute__((aligned(4)));

static bool parse(struct nurs_ct_msg *m, const struct nurs_ct_synth *c)
{
    const char *why;
    size_t n = nurs_ct_synth_destroy(buf, sizeof buf, c);
    return n && nurs_ct_msg_parse(m, (const struct nlmsghdr *)buf, false, &why) == 0;
}

static bool addr_is(const uint8_t *a, int family, const char *text)
{
    uint8_t want[16] = {0};
    inet_pton(family, text, want);
    return memcmp(a, want, family == AF_INET ? 4 : 16) == 0;
}

static void test_nat(void)
{
    /* 10.0.0.1:1000 -> 192.0.2.1:80, DNAT to 10.2.2.2:8080 and SNAT to
     * 198.51.100.9:40000: the reply comes from 10.2.2.2:8080. */
    struct nurs_ct_synth c = {.family = AF_INET, .proto = 6, .sport = 1000, .dport = 80,
                              .rsport = 8080, .rdport = 40000, .id = 77,
                              .status = IPS_SRC_NAT | IPS_DST_NAT | IPS_CONFIRMED,
                              .mark = 0x42, .packets = {10, 8}, .bytes = {1000, 5000},
                              .start_ns = 1, .stop_ns = 2, .tcp_state = TCP_CONNTRACK_TIME_WAIT};
    inet_pton(AF_INET, "10.0.0.1", c.src);
    inet_pton(AF_INET, "192.0.2.1", c.dst);
    inet_pton(AF_INET, "10.2.2.2", c.rsrc);
    inet_pton(AF_INET, "198.51.100.9", c.rdst);
    struct nurs_ct_msg m;
    struct nurs_flow f[2];
    tap_ok(parse(&m, &c) && nurs_flows_from_ct(&m, f), "NATed entry maps");
    tap_ok(f[0].nat && f[1].nat && f[0].ip_version == 4 && f[0].proto == 6, "NAT, IPv4, TCP");
    tap_ok(addr_is(f[0].src, AF_INET, "10.0.0.1") && addr_is(f[0].dst, AF_INET, "192.0.2.1") &&
               f[0].sport == 1000 && f[0].dport == 80,
           "original direction before NAT");
    tap_ok(addr_is(f[0].post_src, AF_INET, "198.51.100.9") &&
               addr_is(f[0].post_dst, AF_INET, "10.2.2.2") && f[0].post_sport == 40000 &&
               f[0].post_dport == 8080,
           "original direction after NAT: the reply tuple, reversed");
    tap_ok(addr_is(f[1].src, AF_INET, "10.2.2.2") && addr_is(f[1].dst, AF_INET, "198.51.100.9") &&
               f[1].sport == 8080 && f[1].dport == 40000,
           "reply direction before NAT");
    tap_ok(addr_is(f[1].post_src, AF_INET, "192.0.2.1") &&
               addr_is(f[1].post_dst, AF_INET, "10.0.0.1") && f[1].post_sport == 80 &&
               f[1].post_dport == 1000,
           "reply direction after NAT: the original tuple, reversed");
    tap_ok(f[0].packets == 10 && f[0].octets == 1000 && f[1].packets == 8 && f[1].octets == 5000,
           "counters per direction");
    tap_ok(f[0].initiator_octets == 1000 && f[1].responder_octets == 5000 &&
               f[1].initiator_packets == 10,
           "initiator and responder counters on both");
    tap_ok(f[0].flow_id == 77 && f[1].mark == 0x42 && f[0].direction == 0 && f[1].direction == 1 &&
               f[0].biflow_direction == 1 && f[1].biflow_direction == 2,
           "id, mark, directions");
    tap_is_int(nurs_ct_end_reason(&m), NURS_END_OF_FLOW, "TIME_WAIT: end of flow");
    c.tcp_state = TCP_CONNTRACK_ESTABLISHED;
    parse(&m, &c);
    tap_is_int(nurs_ct_end_reason(&m), NURS_END_IDLE, "ESTABLISHED: idle timeout");
}

static void test_icmp6_and_counters(void)
{
    struct nurs_ct_synth c = {.family = AF_INET6, .proto = 58, .icmp_type = 128,
                              .ricmp_type = 129, .icmp_id = 9, .status = IPS_CONFIRMED,
                              .packets = {3, 0}, .bytes = {312, 0}};
    inet_pton(AF_INET6, "2001:db8::1", c.src);
    inet_pton(AF_INET6, "2001:db8::2", c.dst);
    memcpy(c.rsrc, c.dst, 16);
    memcpy(c.rdst, c.src, 16);
    struct nurs_ct_msg m;
    struct nurs_flow f[2];
    tap_ok(parse(&m, &c) && nurs_flows_from_ct(&m, f), "ICMPv6 entry maps");
    tap_ok(f[0].icmp && f[0].icmp_type == 128 && f[1].icmp_type == 129 && !f[0].nat,
           "echo request one way, reply the other; no NAT");
    tap_ok(addr_is(f[1].src, AF_INET6, "2001:db8::2"), "reply from the responder");
    tap_ok(f[0].packets == 3 && f[1].packets == 0 && f[1].counted,
           "a direction without traffic is counted at zero");
    tap_is_int(nurs_ct_end_reason(&m), NURS_END_IDLE, "not TCP: idle timeout");
}

int main(void)
{
    test_nat();
    test_icmp6_and_counters();
    return tap_done();
}
