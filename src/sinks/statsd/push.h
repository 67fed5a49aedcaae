/* The daemon's own counters as statsd lines: every counter of the census
 * (core/census.h), counts as the change since the last push ("|c", which
 * is what statsd counters mean: statsd sums them per flush interval and
 * derives rates), levels as they are ("|g"). A count that did not change
 * is not sent (statsd takes an absent counter as zero). The last value of
 * each count is remembered by its identity (loop, resource, counter): a
 * counter that went down (a resource made anew under the same name)
 * sends its value, as a reset. */
#ifndef NURS_SINKS_STATSD_PUSH_H
#define NURS_SINKS_STATSD_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "core/census.h"
#include "sinks/statsd/line.h"

#define NURS_STATSD_MAX_TRACKED 65536 /* counts remembered; more are sent whole */

struct nurs_statsd_last {
    uint64_t key; /* 0: empty */
    uint64_t value;
    unsigned seen; /* the push that last saw it */
};

struct nurs_statsd_deltas {
    struct nurs_statsd_last *e;
    size_t cap, n;
    unsigned push;
    uint64_t untracked; /* counts sent whole, the table being full */
};

void nurs_statsd_deltas_free(struct nurs_statsd_deltas *d);

/* Receives each line (no newline). */
typedef void (*nurs_statsd_emit)(void *ctx, const char *line, size_t len);

struct nurs_statsd_format {
    enum nurs_statsd_tags style;
    const char *prefix;
};

/* One push: every counter of c through emit; returns how many lines. */
unsigned nurs_statsd_push_counters(const struct nurs_census *c, const struct nurs_statsd_format *f,
                                   struct nurs_statsd_deltas *d, nurs_statsd_emit emit, void *ctx);

#endif
