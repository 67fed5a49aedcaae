/* Conntrack entries to flows with their times and end reason, by the
 * exporters' rules (sinks/flow/ctflow.c): NEW events note a start time,
 * a table dump is an active timeout (what the connection did since it was
 * last exported), DESTROY ends the flow. The one place the Kafka sink
 * maps conntrack to flows: when the flow layer offers this as a pure
 * function, it replaces the body of nurs_ctflows_map. */
#ifndef NURS_SINKS_KAFKA_CTFLOWS_H
#define NURS_SINKS_KAFKA_CTFLOWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netlink/ct_msg.h"
#include "sinks/flow/flow.h"
#include "sinks/flow/flow_state.h"

struct nurs_ctflows {
    struct nurs_flow_state state;
    /* A DESTROY or dump carried a start timestamp: NEW events need not
     * be noted. */
    bool kernel_timestamps;
    bool start_unknown; /* a flow started when it ended: no timestamps, no NEW seen */
};

enum nurs_ctflows_result {
    NURS_CTFLOWS_FLOWS,       /* f[0] and f[1] are filled (a direction may have no packets) */
    NURS_CTFLOWS_NONE,        /* nothing to send: a NEW or UPDATE event, or no packets */
    NURS_CTFLOWS_NO_COUNTERS, /* the entry carries no counters: accounting is off */
    NURS_CTFLOWS_MALFORMED,   /* no protocol or tuples */
};

void nurs_ctflows_init(struct nurs_ctflows *c, size_t max_connections);
void nurs_ctflows_free(struct nurs_ctflows *c);
/* Maps m at now_ns (the wall clock, ns since the epoch). */
enum nurs_ctflows_result nurs_ctflows_map(struct nurs_ctflows *c, struct nurs_ct_msg *m,
                                          uint64_t now_ns, struct nurs_flow f[2]);

#endif
