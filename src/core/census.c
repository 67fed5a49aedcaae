#include "core/census.h"

#include <stdlib.h>
#include <string.h>

#include "core/host.h"
#include "core/workers.h"

int nurs_census_take(struct nurs_census *c, const struct nurs_host *h)
{
    c->n_loops = 1 + nurs_workers_count(h);
    c->loops = calloc((size_t)c->n_loops, sizeof *c->loops);
    if (!c->loops)
        return -1;
    nurs_host_snap_take(&c->loops[0], h);
    for (int k = 1; k < c->n_loops; k++)
        nurs_workers_snapshot(h, k, &c->loops[k]);
    return 0;
}

void nurs_census_free(struct nurs_census *c)
{
    free(c->loops);
    c->loops = NULL;
    c->n_loops = 0;
}

bool nurs_census_res_level(const struct nurs_res_snap *r, int i)
{
    return i >= NURS_N_COMMON && nurs_extra_is_gauge(r->ops, r->counters[i].name);
}

bool nurs_census_script_level(const char *name)
{
    return strncmp(name, "memory_", 7) == 0 && strstr(name, "_bytes") != NULL;
}
