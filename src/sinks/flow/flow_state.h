/* What an exporter remembers of a live connection between its events:
 * when it started (for kernels without conntrack timestamps) and when it
 * was last exported (active timeout chunks start there). Keyed by
 * conntrack id, bounded in size (an id table). */
#ifndef NURS_SINKS_FLOW_FLOW_STATE_H
#define NURS_SINKS_FLOW_FLOW_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/idtable.h"

struct nurs_conn_state {
    struct nurs_idtable_head head; /* head.id: the conntrack id */
    uint64_t start_ns;       /* 0: unknown */
    uint64_t last_export_ns; /* 0: never exported */
};

struct nurs_flow_state {
    struct nurs_idtable t;
};

static inline void nurs_flow_state_init(struct nurs_flow_state *s, size_t max_entries,
                                        uint64_t max_age_ns)
{
    nurs_idtable_init(&s->t, sizeof(struct nurs_conn_state), max_entries, max_age_ns, NULL);
}
static inline void nurs_flow_state_free(struct nurs_flow_state *s) { nurs_idtable_free(&s->t); }
static inline struct nurs_conn_state *nurs_flow_state_get(struct nurs_flow_state *s, uint32_t id)
{
    return nurs_idtable_get(&s->t, id);
}
/* The entry for id, created if needed; NULL when full. */
static inline struct nurs_conn_state *nurs_flow_state_put(struct nurs_flow_state *s, uint32_t id,
                                                          uint64_t now_ns)
{
    return nurs_idtable_put(&s->t, id, now_ns);
}
static inline void nurs_flow_state_del(struct nurs_flow_state *s, uint32_t id)
{
    nurs_idtable_del(&s->t, id);
}

#endif
