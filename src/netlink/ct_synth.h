/* Synthetic conntrack DESTROY (and NEW) events laid out byte for byte as
 * the kernel (6.x) sends them, for benchmarks and replay tests. */
#ifndef NURS_NETLINK_CT_SYNTH_H
#define NURS_NETLINK_CT_SYNTH_H

#include <stddef.h>
#include <stdint.h>

struct nurs_ct_synth {
    uint8_t family; /* AF_INET, AF_INET6 */
    uint8_t proto;  /* 6, 17, 1 (icmp), 58 (icmpv6), ... */
    uint8_t src[16], dst[16];   /* original direction */
    uint8_t rsrc[16], rdst[16]; /* reply direction: differs under NAT */
    uint16_t sport, dport, rsport, rdport;
    uint16_t icmp_id;
    uint8_t icmp_type, icmp_code, ricmp_type;
    uint32_t id, status, timeout, mark;
    uint16_t zone; /* 0: none */
    uint64_t packets[2], bytes[2];
    uint64_t start_ns, stop_ns, event_ns; /* event_ns 0: kernel without CTA_TIMESTAMP_EVENT */
    uint8_t tcp_state;
    uint32_t portid; /* of the process whose request caused the event; 0: the kernel */
};

/* Writes one DESTROY message into buf; returns its length, 0 if cap is
 * too small. */
size_t nurs_ct_synth_destroy(void *buf, size_t cap, const struct nurs_ct_synth *c);
/* The connection's NEW event: no counters, no stop time. */
size_t nurs_ct_synth_new(void *buf, size_t cap, const struct nurs_ct_synth *c);

#endif
