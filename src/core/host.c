#include "core/host.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "bindings/budget.h"
#include "bindings/embedded.h"
#include "bindings/nurs.h"
#include "bindings/timer.h"
#include "sources/recorder.h"

struct nurs_script *nurs_script_of(lua_State *L)
{
    return *(struct nurs_script **)lua_getextraspace(L);
}

struct nurs_script *nurs_host_active_script(struct nurs_host *h)
{
    return h->loading ? h->loading : h->current;
}

int nurs_host_init(struct nurs_host *h, uv_loop_t *loop, const char *lua_dir)
{
    memset(h, 0, sizeof *h);
    h->loop = loop;
    if (snprintf(h->lua_dir, sizeof h->lua_dir, "%s", lua_dir) >= (int)sizeof h->lua_dir)
        return -1;
    return 0;
}

static int traceback_handler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            msg = lua_tostring(L, -1);
        else
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int nurs_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, traceback_handler);
    lua_insert(L, base);
    int rc = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return rc;
}

void nurs_log_lua_error(lua_State *L, struct nurs_ratelimit *rl, const char *context)
{
    long long suppressed = nurs_ratelimit_check(rl);
    if (suppressed >= 0) {
        const char *msg = lua_tostring(L, -1);
        if (suppressed > 0)
            nurs_err("%s: %s (%lld similar errors not logged)", context, msg ? msg : "?",
                     suppressed);
        else
            nurs_err("%s: %s", context, msg ? msg : "?");
    }
    lua_pop(L, 1);
}

static void set_package_path(lua_State *L, const char *lua_dir, bool lua_dir_override,
                             const char *script_path)
{
    nurs_embedded_install(L, lua_dir_override);
    char *copy = strdup(script_path);
    const char *script_dir = copy ? dirname(copy) : ".";
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s", lua_dir, lua_dir, script_dir,
                    lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_nurs_core);
    lua_setfield(L, -2, "nurs.core");
    lua_pop(L, 2);
    free(copy);
}

static struct nurs_script *script_new(struct nurs_host *h)
{
    struct nurs_script *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->host = h;
    s->error_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    s->L = luaL_newstate();
    if (!s->L) {
        free(s);
        return NULL;
    }
    *(struct nurs_script **)lua_getextraspace(s->L) = s;
    /* Records are short-lived garbage: the generational collector is
     * built for exactly that. */
    lua_gc(s->L, LUA_GCGEN, 0, 0);
    luaL_openlibs(s->L);
    /* So that a queue's time budget can stop loops in coroutines too. */
    nurs_budget_open(s->L);
    set_package_path(s->L, h->lua_dir, h->lua_dir_override, h->script_path);
    return s;
}

static void destroy_owned_by(struct nurs_host *h, struct nurs_script *s)
{
    struct nurs_resource *r = h->resources;
    while (r) {
        struct nurs_resource *next = r->next;
        if (r->owner == s)
            nurs_resource_destroy(r);
        r = next;
    }
}

static void script_destroy(struct nurs_host *h, struct nurs_script *s)
{
    destroy_owned_by(h, s);
    nurs_timers_close_all(s);
    lua_close(s->L);
    free(s);
}

/* Runs the script's main chunk with `arg` set as the lua interpreter does. */
static int script_run(struct nurs_host *h, struct nurs_script *s)
{
    lua_State *L = s->L;
    lua_createtable(L, h->script_argc, 2);
    lua_pushstring(L, "nurs-lua");
    lua_rawseti(L, -2, -1);
    lua_pushstring(L, h->script_path);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < h->script_argc; i++) {
        lua_pushstring(L, h->script_argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");

    if (luaL_loadfile(L, h->script_path) != LUA_OK) {
        nurs_err("%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    luaL_checkstack(L, h->script_argc, "too many script arguments");
    for (int i = 0; i < h->script_argc; i++)
        lua_pushstring(L, h->script_argv[i]);
    if (nurs_pcall(L, h->script_argc, 0) != LUA_OK) {
        nurs_err("%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

static void commit(struct nurs_host *h, struct nurs_script *s)
{
    struct nurs_script *old = h->current;
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        if (r->claimant != s)
            continue;
        r->owner = s;
        r->claimant = NULL;
        r->cb = r->pending_cb;
        r->pending_cb.n = r->pending_cb.n_functions = 0;
        r->pending_cb.L = NULL;
        if (r->ops->claim_end)
            r->ops->claim_end(r, true);
    }
    h->current = s;
    if (old)
        script_destroy(h, old);
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (r->owner == s && r->ops->committed)
            r->ops->committed(r);
}

static void abort_load(struct nurs_host *h, struct nurs_script *s)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next) {
        if (r->claimant == s)
            nurs_resource_unclaim(r);
    }
    script_destroy(h, s);
}

int nurs_host_load(struct nurs_host *h)
{
    struct nurs_script *s = script_new(h);
    if (!s) {
        nurs_err("cannot create a Lua state: out of memory");
        return -1;
    }
    h->loading = s;
    h->starting = true;
    int rc = script_run(h, s);
    h->starting = false;
    /* nurs.run() may have committed the script already. */
    if (h->loading != s)
        return rc;
    h->loading = NULL;
    if (rc != 0) {
        abort_load(h, s);
        return -1;
    }
    commit(h, s);
    return 0;
}

int nurs_host_commit_early(struct nurs_host *h)
{
    if (!h->loading || h->current)
        return -1;
    struct nurs_script *s = h->loading;
    h->loading = NULL;
    commit(h, s);
    return 0;
}

int nurs_host_reload(struct nurs_host *h)
{
    if (h->starting) {
        nurs_warn("SIGHUP: the script is still starting; reload ignored");
        return 0;
    }
    nurs_info("SIGHUP: reloading %s", h->script_path);
    int rc = nurs_host_load(h);
    if (rc == 0)
        nurs_info("reloaded %s", h->script_path);
    else
        nurs_err("reload of %s failed; the running script goes on", h->script_path);
    nurs_host_reopen(h);
    return rc;
}

void nurs_host_reopen(struct nurs_host *h)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (r->ops->reopen)
            r->ops->reopen(r);
}

void nurs_host_flush(struct nurs_host *h)
{
    nurs_recorder_flush_all(h);
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        if (r->ops->flush)
            r->ops->flush(r);
}

void nurs_host_log_counters(struct nurs_host *h)
{
    for (struct nurs_resource *r = h->resources; r; r = r->next)
        nurs_counters_log(r);
    if (h->current)
        nurs_info("counters script: errors=%llu", (unsigned long long)h->current->errors);
}

void nurs_host_stop(struct nurs_host *h)
{
    h->stop_requested = true;
    uv_stop(h->loop);
}

void nurs_host_shutdown(struct nurs_host *h)
{
    if (!h->check_only) {
        for (struct nurs_resource *r = h->resources, *next; r; r = next) {
            next = r->next;
            if (r->ops->finish && r->owner == h->current)
                r->ops->finish(r);
        }
    }
    nurs_host_flush(h);
    if (!h->check_only)
        nurs_host_log_counters(h);
    if (h->loading) {
        abort_load(h, h->loading);
        h->loading = NULL;
    }
    if (h->current) {
        script_destroy(h, h->current);
        h->current = NULL;
    }
    /* Let the close callbacks of every handle run. */
    uv_run(h->loop, UV_RUN_DEFAULT);
}
