#include "bindings/workers.h"

#include <sched.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>

#include "bindings/script.h"
#include "core/host.h"
#include "core/workers.h"

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > NURS_MAX_WORKERS ? NURS_MAX_WORKERS : (int)n;
}

/* workers = N | "auto": one per online CPU, at most one per unit. */
static int read_workers(lua_State *L, int idx, const char *fname, const char *what, int n)
{
    int t = lua_getfield(L, idx, "workers");
    int k = 1;
    if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "auto") == 0) {
        k = online_cpus();
        if (k > n)
            k = n;
    } else if (t != LUA_TNIL) {
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 1 || v > NURS_MAX_WORKERS)
            luaL_error(L, "%s: option 'workers' is a number from 1 to %d or \"auto\"", fname,
                       NURS_MAX_WORKERS);
        if (v > n)
            luaL_error(L, "%s: %d workers for %d %s: each worker needs one at least", fname,
                       (int)v, n, what);
        k = (int)v;
    }
    lua_pop(L, 1);
    return k;
}

/* affinity = true (worker i on the i-th CPU we may run on) or a list of
 * CPU numbers. */
static void read_affinity(lua_State *L, int idx, const char *fname, struct nurs_worker_plan *p)
{
    struct nurs_worker_plan want = {0};
    int t = lua_getfield(L, idx, "affinity");
    if (t == LUA_TBOOLEAN && lua_toboolean(L, -1)) {
        cpu_set_t set;
        CPU_ZERO(&set);
        if (sched_getaffinity(0, sizeof set, &set) < 0)
            luaL_error(L, "%s: affinity: cannot read the CPUs we may run on", fname);
        for (int c = 0; c < CPU_SETSIZE && want.n_cpus < NURS_MAX_WORKERS; c++)
            if (CPU_ISSET(c, &set))
                want.cpus[want.n_cpus++] = c;
    } else if (t == LUA_TTABLE) {
        lua_Integer n = luaL_len(L, -1);
        if (n < 1 || n > NURS_MAX_WORKERS)
            luaL_error(L, "%s: option 'affinity' lists 1 to %d CPUs", fname, NURS_MAX_WORKERS);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            int isint;
            lua_Integer c = lua_tointegerx(L, -1, &isint);
            if (!isint || c < 0 || c >= CPU_SETSIZE)
                luaL_error(L, "%s: option 'affinity' lists CPU numbers", fname);
            want.cpus[want.n_cpus++] = (int)c;
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL && t != LUA_TBOOLEAN) {
        luaL_error(L, "%s: option 'affinity' is true or a list of CPU numbers", fname);
    }
    lua_pop(L, 1);
    if (!want.n_cpus)
        return;
    if (p->n_cpus && (p->n_cpus != want.n_cpus ||
                      memcmp(p->cpus, want.cpus, sizeof(int) * (size_t)want.n_cpus) != 0))
        luaL_error(L, "%s: another source pins the workers to other CPUs", fname);
    memcpy(p->cpus, want.cpus, sizeof want.cpus);
    p->n_cpus = want.n_cpus;
}

static void sort_units(uint16_t *u, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && u[j - 1] > u[j]; j--) {
            uint16_t t = u[j];
            u[j] = u[j - 1];
            u[j - 1] = t;
        }
}

struct nurs_l_share nurs_l_worker_share(lua_State *L, int idx, const char *fname,
                                        const char *what, uint16_t *units, int *n)
{
    struct nurs_host *h = nurs_script_of(L)->host;
    struct nurs_l_share sh = {.workers = read_workers(L, idx, fname, what, *n)};
    if (h->worker_id == 0) {
        /* The main loop: worker-bound sources live in the workers. */
        if (sh.workers > 1) {
            struct nurs_worker_plan *p = nurs_host_plan(h);
            if (sh.workers > p->count)
                p->count = sh.workers;
            read_affinity(L, idx, fname, p);
            sh.dormant = true;
        }
        return sh;
    }
    if (sh.workers < 2 || h->worker_id > sh.workers) {
        sh.dormant = true; /* the main loop's, or another worker's */
        return sh;
    }
    sort_units(units, *n);
    int kept = 0;
    for (int i = h->worker_id - 1; i < *n; i += sh.workers)
        units[kept++] = units[i];
    *n = kept;
    return sh;
}

/* nurs.worker.count: the worker loops that run (or that the loading
 * script plans, before they start); 0 when there are none. */
static int worker_index(lua_State *L)
{
    struct nurs_host *h = nurs_script_of(L)->host;
    if (strcmp(luaL_checkstring(L, 2), "count") != 0)
        return 0;
    int count = h->worker ? h->worker_count : nurs_workers_count(h);
    if (!count && nurs_host_plan(h)->count > 1)
        count = nurs_host_plan(h)->count;
    lua_pushinteger(L, count);
    return 1;
}

void nurs_l_worker_open(lua_State *L)
{
    lua_createtable(L, 0, 1);
    lua_pushinteger(L, nurs_script_of(L)->host->worker_id);
    lua_setfield(L, -2, "id");
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, worker_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
    lua_setfield(L, -2, "worker");
}
