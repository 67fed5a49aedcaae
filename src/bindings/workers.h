/* The Lua side of the worker loops (core/workers.h): the `workers` and
 * `affinity` options of nurs.nfqueue and nurs.nflog, the share of their
 * queues or groups that this loop owns, and nurs.worker. */
#ifndef NURS_BINDINGS_WORKERS_H
#define NURS_BINDINGS_WORKERS_H

#include <stdbool.h>
#include <stdint.h>

#include <lua.h>

struct nurs_l_share {
    int workers;  /* the worker loops the source asks for (1: none, the main loop's) */
    bool dormant; /* nothing of it is open in this loop */
};

/* Reads `workers` and `affinity` from the options table at idx for a
 * source of units[0..*n) (queues or groups, `what`), plans the worker
 * loops (on the main loop) and leaves in units the share this loop owns:
 * the i-th worker of k takes the units at positions i, i + k... of the
 * sorted list. */
struct nurs_l_share nurs_l_worker_share(lua_State *L, int idx, const char *fname,
                                        const char *what, uint16_t *units, int *n);
/* Adds nurs.worker ({id, count}) to the module table on top. */
void nurs_l_worker_open(lua_State *L);

#endif
