#include "core/idtable.h"

#include <stdlib.h>
#include <string.h>

enum { FREE, USED, DELETED };

void nurs_idtable_init(struct nurs_idtable *t, size_t esize, size_t max_entries,
                       uint64_t max_age_ns, void (*drop)(void *entry))
{
    memset(t, 0, sizeof *t);
    t->esize = esize;
    t->max_entries = max_entries;
    t->max_age_ns = max_age_ns;
    t->drop = drop;
}

static struct nurs_idtable_head *slot(const struct nurs_idtable *t, size_t i)
{
    return (struct nurs_idtable_head *)(t->slots + i * t->esize);
}

void nurs_idtable_free(struct nurs_idtable *t)
{
    for (size_t i = 0; t->drop && i < t->cap; i++)
        if (slot(t, i)->used == USED)
            t->drop(slot(t, i));
    free(t->slots);
    t->slots = NULL;
    t->cap = t->count = t->deleted = 0;
}

/* Conntrack ids are hashes already on recent kernels, sequential on old
 * ones: mix them so that sequences do not cluster. */
static size_t slot_of(uint32_t id, size_t cap)
{
    uint64_t h = (uint64_t)id * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

void *nurs_idtable_get(const struct nurs_idtable *t, uint32_t id)
{
    if (!t->cap)
        return NULL;
    for (size_t i = slot_of(id, t->cap), n = 0; n < t->cap; i = (i + 1) & (t->cap - 1), n++) {
        struct nurs_idtable_head *h = slot(t, i);
        if (h->used == FREE)
            return NULL;
        if (h->used == USED && h->id == id)
            return h;
    }
    return NULL;
}

static bool resize(struct nurs_idtable *t, size_t cap)
{
    unsigned char *slots = calloc(cap, t->esize);
    if (!slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        struct nurs_idtable_head *h = slot(t, i);
        if (h->used != USED)
            continue;
        size_t j = slot_of(h->id, cap);
        while (((struct nurs_idtable_head *)(slots + j * t->esize))->used == USED)
            j = (j + 1) & (cap - 1);
        memcpy(slots + j * t->esize, h, t->esize);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->deleted = 0;
    return true;
}

static void drop_stale(struct nurs_idtable *t, uint64_t now_ns)
{
    for (size_t i = 0; i < t->cap; i++) {
        struct nurs_idtable_head *h = slot(t, i);
        if (h->used == USED && now_ns > h->touched_ns && now_ns - h->touched_ns > t->max_age_ns) {
            if (t->drop)
                t->drop(h);
            h->used = DELETED;
            t->count--;
            t->deleted++;
            t->evicted++;
        }
    }
}

void *nurs_idtable_put(struct nurs_idtable *t, uint32_t id, uint64_t now_ns)
{
    struct nurs_idtable_head *h = nurs_idtable_get(t, id);
    if (h) {
        h->touched_ns = now_ns;
        return h;
    }
    if (t->count >= t->max_entries) {
        drop_stale(t, now_ns);
        if (t->count >= t->max_entries) {
            t->full++;
            return NULL;
        }
    }
    /* Keep the table at most half full, tombstones included; a table full
     * of tombstones is rebuilt at the same size, not grown. */
    if ((t->count + t->deleted + 1) * 2 > t->cap &&
        !resize(t, !t->cap ? 1024 : (t->count + 1) * 4 > t->cap ? t->cap * 2 : t->cap)) {
        t->full++;
        return NULL;
    }
    size_t i = slot_of(id, t->cap);
    while (slot(t, i)->used == USED)
        i = (i + 1) & (t->cap - 1);
    h = slot(t, i);
    if (h->used == DELETED)
        t->deleted--;
    memset(h, 0, t->esize);
    *h = (struct nurs_idtable_head){.id = id, .used = USED, .touched_ns = now_ns};
    t->count++;
    return h;
}

void nurs_idtable_del(struct nurs_idtable *t, uint32_t id)
{
    struct nurs_idtable_head *h = nurs_idtable_get(t, id);
    if (h) {
        h->used = DELETED;
        t->count--;
        t->deleted++;
    }
}

void *nurs_idtable_next(const struct nurs_idtable *t, size_t *pos)
{
    while (*pos < t->cap) {
        struct nurs_idtable_head *h = slot(t, (*pos)++);
        if (h->used == USED)
            return h;
    }
    return NULL;
}
