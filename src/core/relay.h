/* Shared sinks: a sink declared `shared` in a script with worker loops
 * is opened once, by the main loop; in each worker loop the script gets a
 * relay in its place, which copies what is written to it into a bounded
 * single-producer single-consumer ring (one per worker, lock-free) that
 * the main loop drains into the sink (its kind's `relayed` op). A full
 * ring refuses the record: counted as dropped on the relay, never a wait
 * in the worker. */
#ifndef NURS_CORE_RELAY_H
#define NURS_CORE_RELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/resource.h"

struct nurs_script;
struct nurs_host;

#define NURS_RELAY_RING_SIZE (4u << 20)

/* A ring of framed byte records: one thread puts, another drains. */
struct nurs_channel {
    unsigned char *buf;
    size_t size;                 /* a power of two */
    _Atomic size_t head, tail;   /* bytes put / taken, ever */
    atomic_bool signalled;       /* the consumer was told and has not drained yet */
};

int nurs_channel_init(struct nurs_channel *c, size_t size);
void nurs_channel_free(struct nurs_channel *c);
/* Copies iov[0..n) as one record tagged `tag`; false when it does not fit
 * (a full ring, or a record over a quarter of it). Producer only. */
bool nurs_channel_put(struct nurs_channel *c, uint32_t tag, const struct iovec *iov, int n);
/* Hands every record waiting to fn, oldest first; returns how many.
 * Consumer only. */
int nurs_channel_drain(struct nurs_channel *c,
                       void (*fn)(void *ctx, uint32_t tag, const void *data, size_t len),
                       void *ctx);

/* In a worker loop: the relay standing for the main loop's sink named
 * `name` of `kind` (claimed on reload like any resource), with `flags`
 * that the kind's writer reads back (how it packs records). NULL with
 * err. */
struct nurs_resource *nurs_relay_get(struct nurs_script *s, const char *kind, const char *name,
                                     unsigned flags, char *err, size_t errlen);
bool nurs_relay_is(const struct nurs_resource *r);
unsigned nurs_relay_flags(const struct nurs_resource *r);
/* Copies one record to the main loop; false (counted as dropped) when the
 * ring is full. */
bool nurs_relay_put(struct nurs_resource *r, const struct iovec *iov, int n);
/* On the main loop: hands a relayed record to the sink named `name`;
 * false when there is none that takes relayed records. */
bool nurs_relay_deliver(struct nurs_host *main, const char *name, const void *data, size_t len);

#endif
