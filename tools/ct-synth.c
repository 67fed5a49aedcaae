/* ct-synth: writes N synthetic conntrack DESTROY events, byte-identical to
 * what the kernel sends, to a pcap file that nurs.replay reads: IPv4 and
 * IPv6, TCP, UDP and ICMP, some NATed, with counters and timestamps.
 *   ct-synth N OUT.pcap [SEED [local]]
 * "local": connections between loopback addresses (127.0.0.0/8, ::1), each
 * a NEW event then its DESTROY, as a host's own connections (what process
 * attribution looks up). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/netfilter/nf_conntrack_common.h>

#include "netlink/ct_synth.h"
#include "netlink/pcap_nl.h"

static uint64_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift64*: reproducible for a seed, fast, good enough for test data. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static void address(uint8_t *out, int family, uint32_t host, uint8_t net)
{
    if (family == AF_INET) {
        uint32_t a = htonl((10u << 24) | ((uint32_t)net << 16) | (host & 0xffff));
        memcpy(out, &a, 4);
    } else {
        memset(out, 0, 16);
        out[0] = 0xfd;
        out[1] = net;
        memcpy(out + 12, &host, 4);
    }
}

static bool local_mode;

static void make(struct nurs_ct_synth *c, uint64_t i, uint64_t now_ns)
{
    memset(c, 0, sizeof *c);
    uint32_t r = rnd();
    c->family = r % 10 < 7 ? AF_INET : AF_INET6;
    uint32_t p = rnd() % 100;
    c->proto = p < 60 ? 6 : p < 95 ? 17 : (c->family == AF_INET ? 1 : 58);
    address(c->src, c->family, rnd(), 1);
    address(c->dst, c->family, rnd(), 2);
    if (local_mode) {
        memset(c->src, 0, 16);
        memset(c->dst, 0, 16);
        if (c->family == AF_INET) {
            uint32_t a = htonl(0x7f000000u | (rnd() & 0xffffff)), b = htonl(0x7f000001u);
            memcpy(c->src, &a, 4);
            memcpy(c->dst, &b, 4);
        } else {
            c->src[15] = c->dst[15] = 1;
        }
    }
    memcpy(c->rsrc, c->dst, 16);
    memcpy(c->rdst, c->src, 16);
    c->sport = (uint16_t)(1024 + rnd() % 60000);
    c->dport = (uint16_t)(p < 30 ? 443 : p < 60 ? 80 : p < 95 ? 53 : 0);
    c->rsport = c->dport;
    c->rdport = c->sport;
    c->status = IPS_CONFIRMED | IPS_SEEN_REPLY | IPS_ASSURED;
    if (!local_mode && rnd() % 5 == 0) { /* source NAT to a public address and port */
        address(c->rdst, c->family, 0x0a0b0c0d, 99);
        c->rdport = (uint16_t)(30000 + rnd() % 30000);
        c->status |= IPS_SRC_NAT | IPS_SRC_NAT_DONE | IPS_DST_NAT_DONE;
    }
    if (c->proto == 1 || c->proto == 58) {
        c->icmp_id = (uint16_t)rnd();
        c->icmp_type = c->proto == 1 ? 8 : 128;
        c->ricmp_type = c->proto == 1 ? 0 : 129;
        c->status &= ~(uint32_t)IPS_ASSURED;
    }
    c->id = (uint32_t)(0x10000000u + i);
    c->timeout = c->proto == 6 ? 120 : 30;
    c->tcp_state = 7; /* TIME_WAIT */
    c->mark = rnd() % 4 == 0 ? rnd() % 256 : 0;
    c->packets[0] = 1 + rnd() % 1000;
    c->packets[1] = rnd() % 1000;
    c->bytes[0] = c->packets[0] * (40 + rnd() % 1400);
    c->bytes[1] = c->packets[1] * (40 + rnd() % 1400);
    c->stop_ns = now_ns;
    c->start_ns = now_ns - (uint64_t)(rnd() % 600000) * 1000000u;
    c->event_ns = now_ns;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: ct-synth N OUT.pcap [SEED [local]]\n");
        return 2;
    }
    long n = strtol(argv[1], NULL, 10);
    if (n <= 0 || n > 100000000) {
        fprintf(stderr, "ct-synth: N must be between 1 and 100000000\n");
        return 2;
    }
    rng_state = argc > 3 ? strtoull(argv[3], NULL, 10) | 1 : 0x9e3779b97f4a7c15ull;
    local_mode = argc > 4 && strcmp(argv[4], "local") == 0;
    struct nurs_pcap_writer w;
    char err[256];
    if (nurs_pcap_writer_open(&w, NULL, argv[2], err, sizeof err) < 0) {
        fprintf(stderr, "ct-synth: %s\n", err);
        return 1;
    }
    uint64_t t = 1700000000ull * 1000000000u;
    unsigned char buf[1024];
    for (long i = 0; i < n; i++) {
        struct nurs_ct_synth c;
        t += 1000 + rnd() % 20000; /* 1 to 21 us apart */
        make(&c, (uint64_t)i, t);
        size_t len = local_mode ? nurs_ct_synth_new(buf, sizeof buf, &c) : 0;
        if (len && nurs_pcap_writer_put(&w, t, 12 /* NETLINK_NETFILTER */, buf, len) < 0) {
            fprintf(stderr, "ct-synth: write failed\n");
            return 1;
        }
        len = nurs_ct_synth_destroy(buf, sizeof buf, &c);
        if (nurs_pcap_writer_put(&w, t, 12 /* NETLINK_NETFILTER */, buf, len) < 0) {
            fprintf(stderr, "ct-synth: write failed\n");
            return 1;
        }
    }
    if (nurs_pcap_writer_flush(&w) < 0) {
        fprintf(stderr, "ct-synth: write failed\n");
        return 1;
    }
    nurs_pcap_writer_close(&w);
    fprintf(stderr, "ct-synth: wrote %ld %s events to %s\n", n,
            local_mode ? "NEW and DESTROY" : "DESTROY", argv[2]);
    return 0;
}
