#include "flow_state.h"

#include <stdlib.h>
#include <string.h>

enum { FREE, USED, DELETED };

void nurs_flow_state_init(struct nurs_flow_state *s, size_t max_entries, uint64_t max_age_ns)
{
    memset(s, 0, sizeof *s);
    s->max_entries = max_entries;
    s->max_age_ns = max_age_ns;
}

void nurs_flow_state_free(struct nurs_flow_state *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->count = s->deleted = 0;
}

/* Conntrack ids are hashes already on recent kernels, sequential on old
 * ones: mix them so that sequences do not cluster. */
static size_t slot_of(uint32_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

static struct nurs_conn_state *find(const struct nurs_flow_state *s, uint32_t id)
{
    if (!s->cap)
        return NULL;
    for (size_t i = slot_of(id, s->cap), n = 0; n < s->cap; i = (i + 1) & (s->cap - 1), n++) {
        struct nurs_conn_state *c = &s->slots[i];
        if (c->used == FREE)
            return NULL;
        if (c->used == USED && c->id == id)
            return c;
    }
    return NULL;
}

struct nurs_conn_state *nurs_flow_state_get(struct nurs_flow_state *s, uint32_t id)
{
    return find(s, id);
}

static void insert_slot(struct nurs_conn_state *slots, size_t cap, const struct nurs_conn_state *c)
{
    size_t i = slot_of(c->id, cap);
    while (slots[i].used == USED)
        i = (i + 1) & (cap - 1);
    slots[i] = *c;
}

static bool resize(struct nurs_flow_state *s, size_t cap)
{
    struct nurs_conn_state *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slots[i].used == USED)
            insert_slot(slots, cap, &s->slots[i]);
    free(s->slots);
    s->slots = slots;
    s->cap = cap;
    s->deleted = 0;
    return true;
}

static void drop_stale(struct nurs_flow_state *s, uint64_t now_ns)
{
    for (size_t i = 0; i < s->cap; i++) {
        struct nurs_conn_state *c = &s->slots[i];
        if (c->used == USED && now_ns > c->touched_ns && now_ns - c->touched_ns > s->max_age_ns) {
            c->used = DELETED;
            s->count--;
            s->deleted++;
            s->evicted++;
        }
    }
}

struct nurs_conn_state *nurs_flow_state_put(struct nurs_flow_state *s, uint32_t id,
                                            uint64_t now_ns)
{
    struct nurs_conn_state *c = find(s, id);
    if (c) {
        c->touched_ns = now_ns;
        return c;
    }
    if (s->count >= s->max_entries) {
        drop_stale(s, now_ns);
        if (s->count >= s->max_entries) {
            s->full++;
            return NULL;
        }
    }
    /* Keep the table at most half full, tombstones included; a table full
     * of tombstones is rebuilt at the same size, not grown. */
    if ((s->count + s->deleted + 1) * 2 > s->cap &&
        !resize(s, !s->cap ? 1024 : (s->count + 1) * 4 > s->cap ? s->cap * 2 : s->cap)) {
        s->full++;
        return NULL;
    }
    size_t i = slot_of(id, s->cap);
    while (s->slots[i].used == USED)
        i = (i + 1) & (s->cap - 1);
    if (s->slots[i].used == DELETED)
        s->deleted--;
    c = &s->slots[i];
    *c = (struct nurs_conn_state){.id = id, .used = USED, .touched_ns = now_ns};
    s->count++;
    return c;
}

void nurs_flow_state_del(struct nurs_flow_state *s, uint32_t id)
{
    struct nurs_conn_state *c = find(s, id);
    if (c) {
        c->used = DELETED;
        s->count--;
        s->deleted++;
    }
}
