#include "bindings/nurs.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>

#include "bindings/doctor.h"
#include "bindings/record.h"
#include "bindings/budget.h"
#include "bindings/script.h"
#include "bindings/timer.h"
#include "bindings/util.h"
#include "bindings/workers.h"
#include "core/host.h"
#include "core/log.h"

void nurs_l_release(lua_State *L, struct nurs_resource *r)
{
    struct nurs_script *s = nurs_script_of(L);
    if (r->claimant == s) {
        nurs_resource_unclaim(r);
    } else if (r->owner == s) {
        nurs_resource_destroy(r);
    }
}

/* nurs.log(level, message) */
static int l_log(lua_State *L)
{
    const char *level = luaL_checkstring(L, 1);
    int lvl = nurs_log_parse_level(level);
    luaL_argcheck(L, lvl >= 0, 1, "level must be debug, info, warn or error");
    nurs_log((enum nurs_log_level)lvl, "%s", luaL_checkstring(L, 2));
    return 0;
}

/* nurs.log_level([new]) -> current level name */
static int l_log_level(lua_State *L)
{
    if (!lua_isnoneornil(L, 1)) {
        int lvl = nurs_log_parse_level(luaL_checkstring(L, 1));
        luaL_argcheck(L, lvl >= 0, 1, "level must be debug, info, warn or error");
        nurs_log_set_level((enum nurs_log_level)lvl);
    }
    lua_pushstring(L, nurs_log_level_name(nurs_log_get_level()));
    return 1;
}

/* nurs.stop([code]): the loop ends, every sink is flushed, the daemon
 * exits with code (default 0) */
static int l_stop(lua_State *L)
{
    struct nurs_host *h = nurs_script_of(L)->host;
    if (!lua_isnoneornil(L, 1))
        h->exit_code = (int)luaL_checkinteger(L, 1);
    nurs_host_stop(h);
    return 0;
}

static void on_run_timeout(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* nurs.run([seconds]): runs the event loop from a script's top level, for
 * tests and one-shot tools; returns on nurs.stop(), after `seconds`, or
 * when nothing is left to wait for. */
static int l_run(lua_State *L)
{
    struct nurs_script *s = nurs_script_of(L);
    struct nurs_host *h = s->host;
    lua_Number secs = luaL_optnumber(L, 1, -1);
    if (h->in_callback)
        return luaL_error(L, "nurs.run() cannot be called from a callback");
    if (h->check_only || h->worker)
        return 0; /* a worker loop turns once the top level is done */
    if (h->current != s && nurs_host_commit_early(h) < 0)
        return luaL_error(L, "nurs.run() is only for the first script, not a reloaded one");
    if (nurs_host_start_workers(h) < 0)
        return luaL_error(L, "nurs.run(): the worker loops could not start");
    uv_timer_t timer;
    uv_timer_init(h->loop, &timer);
    if (secs >= 0)
        uv_timer_start(&timer, on_run_timeout, (uint64_t)llround(secs * 1000.0), 0);
    h->stop_requested = false;
    h->in_callback = true;
    /* The loop's callbacks run under budgets of their own. */
    struct nurs_budget_saved budget;
    nurs_budget_suspend(&budget);
    uv_run(h->loop, UV_RUN_DEFAULT);
    nurs_budget_resume(&budget);
    h->in_callback = false;
    uv_close((uv_handle_t *)&timer, NULL);
    uv_run(h->loop, UV_RUN_NOWAIT);
    return 0;
}

static void push_all_counters(lua_State *L, struct nurs_host *h)
{
    lua_newtable(L);
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        nurs_counters_push(L, r);
        lua_setfield(L, -2, r->name);
    }
}

static int l_counters(lua_State *L)
{
    struct nurs_lua_script *s = nurs_lua_script_of(L);
    push_all_counters(L, s->base.host);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)s->errors);
    lua_setfield(L, -2, "errors");
    lua_pushinteger(L, (lua_Integer)s->timeouts);
    lua_setfield(L, -2, "timeouts");
    lua_pushinteger(L, (lua_Integer)s->mem_used);
    lua_setfield(L, -2, "memory");
    lua_pushinteger(L, (lua_Integer)s->mem_peak);
    lua_setfield(L, -2, "memory_peak");
    lua_pushinteger(L, (lua_Integer)s->mem_refused);
    lua_setfield(L, -2, "memory_refused");
    lua_setfield(L, -2, "script");
    return 1;
}

/* Wall-clock time in seconds, with sub-second precision. */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_reloading(lua_State *L)
{
    struct nurs_script *s = nurs_script_of(L);
    lua_pushboolean(L, s->host->current && s->host->current != s);
    return 1;
}

static int l_check_only(lua_State *L)
{
    lua_pushboolean(L, nurs_script_of(L)->host->check_only);
    return 1;
}

int luaopen_nurs_core(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"log", l_log},           {"log_level", l_log_level},
        {"stop", l_stop},         {"run", l_run},
        {"counters", l_counters}, {"now", l_now},
        {"every", nurs_l_every},  {"after", nurs_l_after},
        {"reloading", l_reloading}, {"checking", l_check_only},
        {NULL, NULL},
    };
    if (!nurs_script_of(L))
        return luaL_error(L, "nurs.core only works inside nurs-lua");
    nurs_l_records_open(L);
    nurs_timer_open(L);
    luaL_newlib(L, funcs);
    lua_pushstring(L, NURS_VERSION);
    lua_setfield(L, -2, "version");
    nurs_l_conntrack_open(L);
    nurs_l_json_open(L);
    nurs_l_replay_open(L);
    nurs_l_nflog_open(L);
    nurs_l_pcap_open(L);
    nurs_l_nfqueue_open(L);
    nurs_l_exporter_open(L);
    nurs_l_ct_table_open(L);
    nurs_l_doctor_open(L);
    nurs_l_metrics_open(L);
    nurs_l_statsd_open(L);
    nurs_l_kafka_open(L);
    nurs_l_worker_open(L);
    nurs_l_shared_open(L);
    return 1;
}
