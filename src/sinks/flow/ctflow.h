/* Conntrack records to flows: a function of the record and of what is
 * remembered of its connection (times of earlier events and exports). */
#ifndef NURS_SINKS_FLOW_CTFLOW_H
#define NURS_SINKS_FLOW_CTFLOW_H

#include <stdbool.h>
#include <stdint.h>

#include "netlink/ct_msg.h"
#include "sinks/flow/flow.h"
#include "sinks/flow/flow_state.h"

/* What a conntrack record means for flow export. */
enum nurs_ct_flow_outcome {
    NURS_CT_FLOWS,             /* f[0] (original) and f[1] (reply): those with packets go out */
    NURS_CT_FLOWS_NOTED,       /* a NEW or UPDATE event: its start noted, no flow yet */
    NURS_CT_FLOWS_EMPTY,       /* no packet in either direction (since the last export) */
    NURS_CT_FLOWS_NO_COUNTERS, /* the entry carries no counters: accounting is off */
    NURS_CT_FLOWS_MALFORMED,   /* no protocol or no tuples */
};

struct nurs_ct_flow_ctx {
    struct nurs_flow_state *state; /* what is remembered of live connections */
    /* Learned from a DESTROY or dump that carried a start timestamp: the
     * kernel stamps entries, so NEW events (which never carry one) need
     * not be noted. */
    bool kernel_timestamps;
    uint64_t (*clock_ns)(void); /* wall clock, read only when the kernel's times do not tell */
};

/* Maps m to its two flows, with start and end times (ns since the epoch)
 * and end reasons. *start_known is false when neither the kernel nor an
 * earlier event told when the connection began: its flow then starts
 * when it ends. */
enum nurs_ct_flow_outcome nurs_ct_flow_map(struct nurs_ct_flow_ctx *ctx, struct nurs_ct_msg *m,
                                           struct nurs_flow f[2], bool *start_known);

#endif
