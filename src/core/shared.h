/* The one thing every loop shares: a small table of named integer
 * counters (nurs.shared), for what scripts must count across worker
 * loops. Lock-free where it is used per record: finding a key is a probe
 * of an open-addressed table with acquire loads, adding to it one atomic
 * add; only a key's first use takes a lock to insert it. Keys are never
 * removed; past NURS_SHARED_MAX_KEYS new keys are refused (counted). */
#ifndef NURS_CORE_SHARED_H
#define NURS_CORE_SHARED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NURS_SHARED_SLOTS 16384     /* a power of two */
#define NURS_SHARED_MAX_KEYS 12288  /* three quarters of the slots */
#define NURS_SHARED_KEY_MAX 63      /* bytes */

/* The counter named by key (len bytes, at most NURS_SHARED_KEY_MAX), made
 * (at 0) if absent when `create`; NULL when absent, or when the table is
 * full (counted as refused) or out of memory. */
_Atomic int64_t *nurs_shared_find(const char *key, size_t len, bool create);
/* Calls fn for every key that starts with prefix (plen bytes), with the
 * value at the time it is read. */
void nurs_shared_each(const char *prefix, size_t plen,
                      void (*fn)(void *ctx, const char *key, int64_t value), void *ctx);

struct nurs_shared_stats {
    uint64_t keys, capacity, refused;
};
void nurs_shared_stats(struct nurs_shared_stats *out);

#endif
