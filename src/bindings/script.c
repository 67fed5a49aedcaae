#include "bindings/script.h"

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include "bindings/budget.h"
#include "bindings/embedded.h"
#include "bindings/nurs.h"
#include "bindings/timer.h"

static struct {
    char lua_dir[PATH_MAX];
    bool override;
} config;

struct nurs_script *nurs_script_of(lua_State *L)
{
    return *(struct nurs_script **)lua_getextraspace(L);
}

struct nurs_lua_script *nurs_lua_script_of(lua_State *L)
{
    return nurs_lua_script(nurs_script_of(L));
}

int nurs_l_traceback(lua_State *L)
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
    lua_pushcfunction(L, nurs_l_traceback);
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

static void set_package_path(lua_State *L, const char *script_path)
{
    nurs_embedded_install(L, config.override);
    char *copy = strdup(script_path);
    const char *script_dir = copy ? dirname(copy) : ".";
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s", config.lua_dir, config.lua_dir,
                    script_dir, lua_tostring(L, -1));
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_nurs_core);
    lua_setfield(L, -2, "nurs.core");
    lua_pop(L, 2);
    free(copy);
}

static struct nurs_script *script_create(struct nurs_host *h)
{
    struct nurs_lua_script *s = calloc(1, sizeof *s);
    if (!s || !(s->L = luaL_newstate())) {
        free(s);
        nurs_err("cannot create a Lua state: out of memory");
        return NULL;
    }
    s->base.host = h;
    s->error_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    *(struct nurs_script **)lua_getextraspace(s->L) = &s->base;
    /* Records are short-lived garbage: the generational collector is
     * built for exactly that. */
    lua_gc(s->L, LUA_GCGEN, 0, 0);
    luaL_openlibs(s->L);
    /* So that a queue's time budget can stop loops in coroutines too. */
    nurs_budget_open(s->L);
    set_package_path(s->L, h->script_path);
    return &s->base;
}

/* Runs the script's main chunk with `arg` set as the lua interpreter does. */
static int script_run(struct nurs_script *script)
{
    struct nurs_host *h = script->host;
    lua_State *L = nurs_lua_script(script)->L;
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

int nurs_l_script_budget_init(struct nurs_lua_script *s)
{
    if (s->budget_ready)
        return 0;
    if (nurs_budget_init(&s->budget, 0) < 0)
        return -1;
    s->budget_ready = true;
    return 0;
}

static void script_close(struct nurs_script *script)
{
    struct nurs_lua_script *s = nurs_lua_script(script);
    nurs_timers_close_all(s);
    nurs_budget_forget(&s->budget); /* its coroutine goes with the state */
    lua_close(s->L);
    free(s);
}

static void script_log_counters(const struct nurs_script *script)
{
    nurs_info("counters script: errors=%llu",
              (unsigned long long)((const struct nurs_lua_script *)script)->errors);
}

const struct nurs_engine *nurs_lua_engine(const char *lua_dir, bool override)
{
    static const struct nurs_engine engine = {
        .create = script_create,
        .run = script_run,
        .close = script_close,
        .log_counters = script_log_counters,
    };
    snprintf(config.lua_dir, sizeof config.lua_dir, "%s", lua_dir);
    config.override = override;
    return &engine;
}
