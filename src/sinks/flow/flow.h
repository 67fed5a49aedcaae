/* A unidirectional flow, the unit NetFlow v9 and IPFIX export, and the
 * mapping from a conntrack entry to its two directions. */
#ifndef NURS_SINKS_FLOW_FLOW_H
#define NURS_SINKS_FLOW_FLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "netlink/ct_msg.h"
#include "process/procinfo.h"

/* flowEndReason (IANA IE 136) */
enum nurs_end_reason {
    NURS_END_IDLE = 1,
    NURS_END_ACTIVE = 2,
    NURS_END_OF_FLOW = 3,
    NURS_END_FORCED = 4,
};

/* Every number is a uint64_t, so that the encoder loads any of them the
 * same way (see nurs_enc_plan_field). */
struct nurs_flow {
    bool nat;     /* post-NAT fields are set (zero otherwise) */
    bool icmp;    /* icmp_type/code are known */
    bool counted; /* the kernel reported counters for this direction */
    uint8_t icmp_type, icmp_code;
    uint8_t src[16], dst[16], post_src[16], post_dst[16];
    uint64_t ip_version; /* 4 or 6 */
    uint64_t proto;
    uint64_t sport, dport, post_sport, post_dport;
    uint64_t end_reason;
    uint64_t direction;        /* flowDirection: 0 ingress, 1 egress */
    uint64_t biflow_direction; /* 1 initiator (orig), 2 reverse initiator (reply) */
    uint64_t in_if, out_if;
    uint64_t mark;
    uint64_t zone; /* the conntrack zone */
    uint64_t vrf;  /* ingressVRFID, egressVRFID: the zone's VRF (the exporter's map, else the zone) */
    uint64_t flow_id;
    uint64_t octets, packets;
    /* The whole connection's counters, for initiator/responder elements. */
    uint64_t initiator_octets, initiator_packets, responder_octets, responder_packets;
    uint64_t start_ns, end_ns; /* since the epoch */
    /* The processes owning the sockets at the flow's source and destination,
     * and the connection's local one (the initiator's, else the
     * responder's); NULL when not attributed. */
    const struct nurs_proc *src_proc, *dst_proc, *local_proc;
};

/* Fills f[0] (original direction) and f[1] (reply) from the entry: addresses,
 * ports, ICMP type/code, post-NAT addresses and ports (when the entry was
 * NATed; zero otherwise), counters, id, mark, and the processes at both
 * ends when the record carries an attribution. Times,
 * end reason and interfaces are left for the caller. False if the entry
 * lacks its protocol or either tuple. */
bool nurs_flows_from_ct(struct nurs_ct_msg *m, struct nurs_flow f[2]);

/* Why a destroyed entry ended: a TCP connection that was closing ended
 * with its flow, the rest timed out idle. */
enum nurs_end_reason nurs_ct_end_reason(struct nurs_ct_msg *m);

#endif
