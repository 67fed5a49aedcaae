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
#include "bindings/exit.h"
#include "bindings/nurs.h"
#include "bindings/timer.h"
#include "core/trust.h"

static struct nurs_lua_options config;
static char config_lua_dir[PATH_MAX];

const struct nurs_lua_options *nurs_lua_options(void) { return &config; }

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
    if (nurs_l_is_exit(L))
        return 1; /* os.exit(): kept as it is, for the caller to see */
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

uint64_t nurs_l_default_budget_ns;

bool nurs_l_call_failed(lua_State *L, enum nurs_budget_rc why, struct nurs_ratelimit *rl,
                        const char *context, uint64_t *errors, uint64_t *timeouts)
{
    if (nurs_l_is_exit(L)) {
        lua_pop(L, 1); /* os.exit(): the daemon is stopping, nothing went wrong */
        return true;
    }
    (*errors)++;
    if (why == NURS_BUDGET_TIMEOUT && timeouts)
        (*timeouts)++;
    nurs_log_lua_error(L, rl, context);
    return false;
}

bool nurs_l_call(lua_State *L, int nargs, int msgh, uint64_t limit_ns, struct nurs_ratelimit *rl,
                 const char *context, uint64_t *errors, uint64_t *timeouts)
{
    int base = 0;
    if (!msgh) {
        base = lua_gettop(L) - nargs;
        lua_pushcfunction(L, nurs_l_traceback);
        lua_insert(L, base);
        msgh = base;
    }
    enum nurs_budget_rc why;
    bool ok = nurs_budget_pcall(L, nargs, 0, msgh, limit_ns ? limit_ns : config.budget_ns,
                                &why) == LUA_OK;
    if (!ok)
        ok = nurs_l_call_failed(L, why, rl, context, errors, timeouts);
    if (base)
        lua_remove(L, base);
    return ok;
}

/* The script's directory comes after the system's Lua directories, so
 * that a module planted beside a script cannot stand in for a library;
 * LUA_PATH can say otherwise, as for any Lua program. */
static void set_package_path(lua_State *L, const char *script_path)
{
    nurs_embedded_install(L, config.lua_dir_override);
    char *copy = strdup(script_path);
    const char *script_dir = copy ? dirname(copy) : ".";
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s;%s/?.lua", config.lua_dir, config.lua_dir,
                    lua_tostring(L, -1), script_dir);
    lua_setfield(L, -3, "path");
    lua_pop(L, 1);
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_nurs_core);
    lua_setfield(L, -2, "nurs.core");
    lua_pop(L, 2);
    free(copy);
}

/* A script or a module directory that others can change: a warning, or
 * with --strict-perms a refusal. */
static int check_script_perms(const char *script_path, bool strict)
{
    char why[PATH_MAX + 64];
    const char *what = NULL;
    if (nurs_trust_file(script_path, why, sizeof why) < 0)
        what = "the script";
    else if (nurs_trust_dir(config.lua_dir, why, sizeof why) < 0)
        what = "the module directory";
    if (!what)
        return 0;
    if (strict) {
        nurs_err("%s: refused (--strict-perms): %s can be changed by others: %s", script_path,
                 what, why);
        return -1;
    }
    nurs_warn("%s: %s can be changed by others (%s): they could run code as this daemon "
              "(--strict-perms refuses such a script)",
              script_path, what, why);
    return 0;
}

/* Lua's allocator with the script's memory limit: an allocation past it
 * fails, which Lua turns into "not enough memory" after a full collection
 * has tried to make room. */
static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct nurs_lua_script *s = ud;
    if (nsize == 0) {
        if (ptr) {
            free(ptr);
            s->mem_used -= osize;
        }
        return NULL;
    }
    if (!ptr) {
        size_t used = s->mem_used + nsize;
        if (used > config.memory_limit && config.memory_limit) {
            s->mem_refused++;
            return NULL;
        }
        void *p = malloc(nsize);
        if (p) {
            s->mem_used = used;
            if (used > s->mem_peak)
                s->mem_peak = used;
        }
        return p;
    }
    size_t used = s->mem_used - osize + nsize;
    if (nsize > osize && used > config.memory_limit && config.memory_limit) {
        s->mem_refused++;
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p) {
        s->mem_used = used;
        if (used > s->mem_peak)
            s->mem_peak = used;
    }
    return p;
}

static void warn_on(void *ud, const char *msg, int tocont)
{
    (void)ud, (void)tocont;
    nurs_warn("lua: %s", msg);
}

static struct nurs_script *script_create(struct nurs_host *h)
{
    struct nurs_lua_script *s = calloc(1, sizeof *s);
    if (!s || !(s->L = lua_newstate(limited_alloc, s))) {
        free(s);
        nurs_err("cannot create a Lua state: out of memory");
        return NULL;
    }
    lua_setwarnf(s->L, warn_on, NULL);
    if (!nurs_budget_ready() &&
        (nurs_budget_start_watchdog() < 0 || nurs_budget_watch_stop_signals() < 0))
        nurs_warn("callbacks run without a time budget: cannot start its watchdog");
    s->base.host = h;
    s->error_rl = (struct nurs_ratelimit)NURS_RATELIMIT_INIT(10000, 5);
    *(struct nurs_script **)lua_getextraspace(s->L) = &s->base;
    /* Records are short-lived garbage: the generational collector is
     * built for exactly that. */
    lua_gc(s->L, LUA_GCGEN, 0, 0);
    luaL_openlibs(s->L);
    /* So that a time budget can stop loops in coroutines too. */
    nurs_budget_open(s->L);
    nurs_l_exit_open(s->L);
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

    if (check_script_perms(h->script_path, config.strict_perms) < 0)
        return -1;
    lua_pushcfunction(L, nurs_l_traceback);
    int msgh = lua_gettop(L);
    if (luaL_loadfile(L, h->script_path) != LUA_OK) {
        nurs_err("%s", lua_tostring(L, -1));
        lua_settop(L, msgh - 1);
        return -1;
    }
    luaL_checkstack(L, h->script_argc, "too many script arguments");
    for (int i = 0; i < h->script_argc; i++)
        lua_pushstring(L, h->script_argv[i]);
    enum nurs_budget_rc why;
    int rc = nurs_budget_pcall(L, h->script_argc, 0, msgh, config.load_budget_ns, &why);
    if (rc != LUA_OK && nurs_l_is_exit(L))
        rc = LUA_OK; /* os.exit() from the top level: loaded, and stopping */
    else if (rc != LUA_OK)
        nurs_err("%s%s", why == NURS_BUDGET_TIMEOUT ? "the script's top level ran too long "
                                                     "(--load-budget): "
                                                   : "",
                 lua_tostring(L, -1));
    lua_settop(L, msgh - 1);
    return rc == LUA_OK ? 0 : -1;
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
    const struct nurs_lua_script *s = (const struct nurs_lua_script *)script;
    nurs_info("counters script: errors=%llu timeouts=%llu memory=%zu memory_peak=%zu "
              "memory_refused=%llu",
              (unsigned long long)s->errors, (unsigned long long)s->timeouts, s->mem_used,
              s->mem_peak, (unsigned long long)s->mem_refused);
}

static int script_counters(const struct nurs_script *script, struct nurs_extra_counter *out)
{
    const struct nurs_lua_script *s = (const struct nurs_lua_script *)script;
    int n = 0;
    out[n++] = (struct nurs_extra_counter){"errors", s->errors};
    out[n++] = (struct nurs_extra_counter){"timeouts", s->timeouts};
    out[n++] = (struct nurs_extra_counter){"memory_bytes", s->mem_used};
    out[n++] = (struct nurs_extra_counter){"memory_peak_bytes", s->mem_peak};
    out[n++] = (struct nurs_extra_counter){"memory_refused", s->mem_refused};
    return n;
}

const struct nurs_engine *nurs_lua_engine(const struct nurs_lua_options *o)
{
    static const struct nurs_engine engine = {
        .create = script_create,
        .run = script_run,
        .close = script_close,
        .log_counters = script_log_counters,
        .counters = script_counters,
    };
    config = *o;
    nurs_l_default_budget_ns = o->budget_ns;
    snprintf(config_lua_dir, sizeof config_lua_dir, "%s", o->lua_dir);
    config.lua_dir = config_lua_dir;
    return &engine;
}
