#include "sources/ct_known.h"

#include <time.h>

struct known {
    struct nurs_idtable_head head;
    uint32_t generation;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void nurs_ct_known_init(struct nurs_ct_known *k, size_t max_entries)
{
    /* Nothing goes stale by age: an entry lives until its DESTROY or a
     * resync that does not find it. */
    nurs_idtable_init(&k->t, sizeof(struct known), max_entries, UINT64_MAX, NULL);
    k->generation = 0;
}

void nurs_ct_known_free(struct nurs_ct_known *k) { nurs_idtable_free(&k->t); }

void nurs_ct_known_seen(struct nurs_ct_known *k, uint32_t id)
{
    struct known *e = nurs_idtable_put(&k->t, id, now_ns());
    if (e)
        e->generation = k->generation;
}

void nurs_ct_known_gone(struct nurs_ct_known *k, uint32_t id) { nurs_idtable_del(&k->t, id); }

void nurs_ct_known_begin(struct nurs_ct_known *k) { k->generation++; }

uint64_t nurs_ct_known_end(struct nurs_ct_known *k)
{
    uint64_t lost = 0;
    size_t pos = 0;
    struct known *e;
    while ((e = nurs_idtable_next(&k->t, &pos))) {
        if (e->generation != k->generation) {
            nurs_idtable_del(&k->t, e->head.id);
            lost++;
        }
    }
    return lost;
}
