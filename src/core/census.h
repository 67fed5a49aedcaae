/* Every counter the daemon keeps, read at once: the resources of each
 * loop (the main loop's now, each worker loop's as it last published
 * them) and each loop's script counters. What the metrics endpoint
 * serves and the statsd push sends, gathered one way. */
#ifndef NURS_CORE_CENSUS_H
#define NURS_CORE_CENSUS_H

#include <stdbool.h>

#include "core/snapshot.h"

struct nurs_host;

/* nurs_resource_counters() lists the common ones first. */
#define NURS_N_COMMON 7

struct nurs_census {
    struct nurs_host_snap *loops; /* [0]: the main loop, then worker 1..n_loops-1 */
    int n_loops;
};

/* Returns 0, or -1 when out of memory. Free with nurs_census_free. */
int nurs_census_take(struct nurs_census *c, const struct nurs_host *h);
void nurs_census_free(struct nurs_census *c);

/* Whether counter i of r is a level going up and down (a gauge) rather
 * than a count of events. */
bool nurs_census_res_level(const struct nurs_res_snap *r, int i);
/* Whether the script counter `name` is a level (its memory in bytes). */
bool nurs_census_script_level(const char *name);

#endif
