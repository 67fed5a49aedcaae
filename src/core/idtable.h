/* A bounded table of fixed-size entries keyed by a 32-bit id (conntrack
 * ids): open addressing, kept at most half full, with entries untouched for
 * longer than max_age dropped to make room (a DESTROY event lost to an
 * overrun must not pin its entry for ever). The exporter's connection state
 * and the process attribution of connections both live in one. */
#ifndef NURS_CORE_IDTABLE_H
#define NURS_CORE_IDTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every entry starts with this. */
struct nurs_idtable_head {
    uint32_t id;
    uint32_t used; /* 0 free, 1 used, 2 deleted */
    uint64_t touched_ns;
};

struct nurs_idtable {
    unsigned char *slots;
    size_t esize; /* bytes per entry, head included */
    size_t cap, count, deleted;
    size_t max_entries;
    uint64_t max_age_ns; /* entries untouched this long are stale */
    uint64_t evicted;    /* stale entries dropped to make room */
    uint64_t full;       /* inserts refused: full of live entries */
    /* Called for an entry the table drops on its own (stale, or at free),
     * so that what it holds can be released. Optional. */
    void (*drop)(void *entry);
};

void nurs_idtable_init(struct nurs_idtable *t, size_t esize, size_t max_entries,
                       uint64_t max_age_ns, void (*drop)(void *entry));
/* Drops every entry (through `drop`) and the memory. */
void nurs_idtable_free(struct nurs_idtable *t);
void *nurs_idtable_get(const struct nurs_idtable *t, uint32_t id);
/* The entry for id, created zeroed if needed (and touched); NULL when
 * full. Pointers to entries are valid until the next put. */
void *nurs_idtable_put(struct nurs_idtable *t, uint32_t id, uint64_t now_ns);
/* Removes the entry, without calling `drop` (the caller has its hands on
 * it). */
void nurs_idtable_del(struct nurs_idtable *t, uint32_t id);
/* Iteration: start with *pos = 0; NULL at the end. Deleting the entry just
 * returned is allowed; putting is not. */
void *nurs_idtable_next(const struct nurs_idtable *t, size_t *pos);

#endif
