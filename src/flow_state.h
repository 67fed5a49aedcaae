/* What an exporter remembers of a live connection between its events:
 * when it started (for kernels without conntrack timestamps) and when it
 * was last exported (active timeout chunks start there). Keyed by
 * conntrack id, bounded in size. */
#ifndef NURS_FLOW_STATE_H
#define NURS_FLOW_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nurs_conn_state {
    uint32_t id;
    uint32_t used; /* 0 free, 1 used, 2 deleted */
    uint64_t start_ns;       /* 0: unknown */
    uint64_t last_export_ns; /* 0: never exported */
    uint64_t touched_ns;
};

struct nurs_flow_state {
    struct nurs_conn_state *slots;
    size_t cap, count, deleted;
    size_t max_entries;
    uint64_t max_age_ns; /* entries untouched this long are stale */
    uint64_t evicted;    /* stale entries dropped to make room */
    uint64_t full;       /* inserts refused: full of live entries */
};

void nurs_flow_state_init(struct nurs_flow_state *s, size_t max_entries, uint64_t max_age_ns);
void nurs_flow_state_free(struct nurs_flow_state *s);
struct nurs_conn_state *nurs_flow_state_get(struct nurs_flow_state *s, uint32_t id);
/* The entry for id, created if needed; NULL when full. */
struct nurs_conn_state *nurs_flow_state_put(struct nurs_flow_state *s, uint32_t id,
                                            uint64_t now_ns);
void nurs_flow_state_del(struct nurs_flow_state *s, uint32_t id);

#endif
