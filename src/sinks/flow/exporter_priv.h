/* What the conntrack mapping (ctflow.c) needs of the exporter. */
#ifndef NURS_SINKS_FLOW_EXPORTER_PRIV_H
#define NURS_SINKS_FLOW_EXPORTER_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "sinks/flow/exporter.h"
#include "sinks/flow/flow_state.h"

struct nurs_exporter_ct {
    struct nurs_flow_state state;
    uint64_t records;     /* data records made (each sent to every collector) */
    uint64_t no_template; /* flows of a family no template takes */
    uint64_t no_counters; /* entries without counters: accounting is off */
    /* A DESTROY or dump carried a start timestamp: the kernel stamps
     * entries, so NEW events (which never carry one) need not be noted. */
    bool kernel_timestamps;
    bool warned_template[2], warned_counters, warned_times, warned_process;
};

struct nurs_exporter_ct *nurs_exporter_ct_state(struct nurs_exporter *e);
/* Adds one record to every collector's message. */
int nurs_exporter_send(struct nurs_exporter *e, const struct nurs_template *t,
                       const struct nurs_flow *fwd, const struct nurs_flow *rev,
                       const struct nurs_fvalue *vals);

#endif
