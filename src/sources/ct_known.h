/* The entries a conntrack source knows to be alive, for resynchronizing
 * after an overrun: every entry seen by a NEW or UPDATE event or a dump,
 * until its DESTROY. A resync dump marks the live ones again; known
 * entries it did not find ended inside the gap, with their DESTROY lost:
 * they are the flows the overrun cost. Keyed by conntrack id, bounded. */
#ifndef NURS_SOURCES_CT_KNOWN_H
#define NURS_SOURCES_CT_KNOWN_H

#include <stddef.h>
#include <stdint.h>

#include "core/idtable.h"

struct nurs_ct_known {
    struct nurs_idtable t;
    uint32_t generation; /* of the resync dump running, or the last one */
};

void nurs_ct_known_init(struct nurs_ct_known *k, size_t max_entries);
void nurs_ct_known_free(struct nurs_ct_known *k);
/* An event or a dump showed the entry alive. */
void nurs_ct_known_seen(struct nurs_ct_known *k, uint32_t id);
/* Its DESTROY came. */
void nurs_ct_known_gone(struct nurs_ct_known *k, uint32_t id);
/* A resync dump starts: what it lists, and what events show meanwhile,
 * is alive. */
void nurs_ct_known_begin(struct nurs_ct_known *k);
/* It ended: forgets the entries neither it nor an event showed, and
 * returns how many (entries that ended unseen). */
uint64_t nurs_ct_known_end(struct nurs_ct_known *k);
static inline size_t nurs_ct_known_count(const struct nurs_ct_known *k) { return k->t.count; }

#endif
