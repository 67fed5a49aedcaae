#include "bindings/util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/nurs.h"
#include "bindings/script.h"
#include "core/host.h"
#include "core/relay.h"
#include "core/resource.h"
#include "core/workers.h"
#include "records/record.h"

void nurs_check_options(lua_State *L, int idx, const char *fname, const char *const *allowed)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option names must be strings", fname);
        const char *key = lua_tostring(L, -1);
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known)
            luaL_error(L, "%s: unknown option '%s'", fname, key);
    }
}

bool nurs_opt_bool(lua_State *L, int idx, const char *fname, const char *key, bool def)
{
    int t = lua_getfield(L, idx, key);
    bool v = def;
    if (t == LUA_TBOOLEAN)
        v = lua_toboolean(L, -1);
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a boolean", fname, key);
    lua_pop(L, 1);
    return v;
}

lua_Integer nurs_opt_int(lua_State *L, int idx, const char *fname, const char *key,
                         lua_Integer def, lua_Integer min, lua_Integer max)
{
    int t = lua_getfield(L, idx, key);
    lua_Integer v = def;
    if (t != LUA_TNIL) {
        int isnum;
        v = lua_tointegerx(L, -1, &isnum);
        if (!isnum)
            luaL_error(L, "%s: option '%s' must be an integer", fname, key);
        if (v < min || v > max)
            luaL_error(L, "%s: option '%s' must be between %I and %I", fname, key, min, max);
    }
    lua_pop(L, 1);
    return v;
}

lua_Number nurs_opt_number(lua_State *L, int idx, const char *fname, const char *key,
                           lua_Number def, lua_Number min, lua_Number max)
{
    int t = lua_getfield(L, idx, key);
    lua_Number v = def;
    if (t != LUA_TNIL) {
        int isnum;
        v = lua_tonumberx(L, -1, &isnum);
        if (!isnum || !isfinite(v))
            luaL_error(L, "%s: option '%s' must be a number", fname, key);
        if (v < min || v > max)
            luaL_error(L, "%s: option '%s' must be between %f and %f", fname, key, min, max);
    }
    lua_pop(L, 1);
    return v;
}

const char *nurs_opt_string(lua_State *L, int idx, const char *fname, const char *key,
                            const char *def)
{
    int t = lua_getfield(L, idx, key);
    const char *v = def;
    if (t == LUA_TSTRING)
        v = lua_tostring(L, -1);
    else if (t != LUA_TNIL)
        luaL_error(L, "%s: option '%s' must be a string", fname, key);
    /* The table holds the string, so it outlives this stack slot. */
    lua_pop(L, 1);
    return v;
}

void nurs_l_opts_arg(lua_State *L, int idx, const char *fname, const char *const *allowed)
{
    if (lua_isnil(L, idx)) {
        lua_newtable(L);
        lua_replace(L, idx);
    }
    luaL_checktype(L, idx, LUA_TTABLE);
    nurs_check_options(L, idx, fname, allowed);
}

int nurs_l_source_args(lua_State *L, const char *fname, const char *const *allowed,
                       bool sinks)
{
    lua_settop(L, 2);
    if (lua_isfunction(L, 1) || (sinks && nurs_l_sink_test(L, 1, NURS_RECORD_CT))) {
        lua_pushvalue(L, 1);
        lua_replace(L, 2);
        lua_pushnil(L);
        lua_replace(L, 1);
    }
    nurs_l_opts_arg(L, 1, fname, allowed);
    if (lua_isnil(L, 2))
        return 0;
    if (sinks)
        nurs_l_check_ct_callback(L, 2);
    else
        luaL_checktype(L, 2, LUA_TFUNCTION);
    return 2;
}

void nurs_opt_path_table(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TSTRING)
        return;
    idx = lua_absindex(L, idx);
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, idx);
    lua_setfield(L, -2, "path");
    lua_replace(L, idx);
}

void nurs_opt_rcvbuf(lua_State *L, int idx, const char *fname, int def, int def_max, int *rcvbuf,
                     int *rcvbuf_max)
{
    *rcvbuf = (int)nurs_opt_int(L, idx, fname, "rcvbuf", def, 4096, 1 << 30);
    *rcvbuf_max = (int)nurs_opt_int(L, idx, fname, "rcvbuf_max",
                                    *rcvbuf > def_max ? *rcvbuf : def_max, *rcvbuf, 1 << 30);
}

void nurs_l_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction tostring, lua_CFunction close)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    if (tostring) {
        lua_pushcfunction(L, tostring);
        lua_setfield(L, -2, "__tostring");
    }
    if (close) {
        lua_pushcfunction(L, close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
}

void nurs_l_handle_push(lua_State *L, const char *mt, struct nurs_resource *r)
{
    struct nurs_l_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->magic = NURS_L_HANDLE_MAGIC;
    h->mt = mt;
    h->r = r;
    luaL_setmetatable(L, mt);
}

struct nurs_l_handle *nurs_l_sink_test(lua_State *L, int idx, unsigned kinds)
{
    if (lua_type(L, idx) != LUA_TUSERDATA || lua_rawlen(L, idx) != sizeof(struct nurs_l_handle))
        return NULL;
    struct nurs_l_handle *h = lua_touserdata(L, idx);
    if (h->magic != NURS_L_HANDLE_MAGIC || !h->r || !h->r->as_consumer.ops ||
        (h->r->as_consumer.ops->kinds & kinds) != kinds)
        return NULL;
    return h;
}

void nurs_l_check_ct_callback(lua_State *L, int idx)
{
    if (!lua_isfunction(L, idx) && !nurs_l_sink_test(L, idx, NURS_RECORD_CT))
        luaL_typeerror(L, idx, "function or sink (exporter, json)");
}

static void push_counter_list(lua_State *L, const struct nurs_extra_counter *all, int n)
{
    lua_createtable(L, 0, n + 1);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, (lua_Integer)all[i].value);
        lua_setfield(L, -2, all[i].name);
    }
}

/* A source the worker loops own, seen from the main loop: the counters
 * summed over the workers, and each worker's under `workers` (as they
 * last published them, at most a second ago). */
static void push_worker_counters(lua_State *L, const struct nurs_resource *r)
{
    struct nurs_res_snap sum = {0};
    int n;
    nurs_workers_sum(r->host, r->name, &sum, &n);
    push_counter_list(L, sum.counters, sum.n_counters);
    int count = nurs_workers_count(r->host);
    struct nurs_host_snap *snap = malloc(sizeof *snap);
    lua_createtable(L, count, 0);
    for (int id = 1; snap && id <= count; id++) {
        const struct nurs_res_snap *one;
        if (nurs_workers_snapshot(r->host, id, snap) && (one = nurs_host_snap_find(snap, r->name)))
            push_counter_list(L, one->counters, one->n_counters);
        else
            lua_newtable(L);
        lua_rawseti(L, -2, id);
    }
    free(snap);
    lua_setfield(L, -2, "workers");
}

void nurs_counters_push(lua_State *L, const struct nurs_resource *r)
{
    if (r->dormant && r->host->workers) {
        push_worker_counters(L, r);
        return;
    }
    struct nurs_extra_counter all[NURS_MAX_COUNTERS];
    push_counter_list(L, all, nurs_resource_counters(r, all));
}

/* Methods like exporter:export run once per record: recognize our handles
 * by size and magic (only C writes userdata memory) before falling back to
 * luaL_checkudata, which also words the error. */
struct nurs_resource *nurs_l_handle_check(lua_State *L, int idx, const char *mt, const char *what)
{
    struct nurs_l_handle *h = NULL;
    if (lua_type(L, idx) == LUA_TUSERDATA && lua_rawlen(L, idx) == sizeof *h) {
        h = lua_touserdata(L, idx);
        if (h->magic != NURS_L_HANDLE_MAGIC || (h->mt != mt && strcmp(h->mt, mt) != 0))
            h = NULL;
    }
    if (!h)
        h = luaL_checkudata(L, idx, mt);
    if (!h->r)
        luaL_error(L, "%s is closed", what);
    return h->r;
}

#define HANDLE_ARGS lua_tostring(L, lua_upvalueindex(1)), lua_tostring(L, lua_upvalueindex(2))

static int handle_counters(lua_State *L)
{
    nurs_counters_push(L, nurs_l_handle_check(L, 1, HANDLE_ARGS));
    return 1;
}

static int handle_name(lua_State *L)
{
    lua_pushstring(L, nurs_l_handle_check(L, 1, HANDLE_ARGS)->name);
    return 1;
}

static int handle_close(lua_State *L)
{
    struct nurs_l_handle *h = luaL_checkudata(L, 1, lua_tostring(L, lua_upvalueindex(1)));
    if (h->r)
        nurs_l_release(L, h->r);
    h->r = NULL;
    return 0;
}

static int handle_tostring(lua_State *L)
{
    struct nurs_l_handle *h = luaL_checkudata(L, 1, lua_tostring(L, lua_upvalueindex(1)));
    lua_pushfstring(L, "%s (%s)", lua_tostring(L, lua_upvalueindex(1)),
                    h->r ? h->r->name : "closed");
    return 1;
}

/* As liolib's file handles: `local out <close> = nurs.json{...}` closes
 * the sink when out goes out of scope. There is no __gc that closes:
 * resources belong to the script, not to the garbage collector, so a
 * source declared without keeping its handle keeps running. */
void nurs_l_handle_class(lua_State *L, const char *mt, const char *what, const luaL_Reg *methods)
{
    static const luaL_Reg common[] = {
        {"counters", handle_counters},
        {"name", handle_name},
        {"close", handle_close},
        {NULL, NULL},
    };
    static const luaL_Reg metamethods[] = {
        {"__tostring", handle_tostring},
        {"__close", handle_close},
        {"__index", NULL}, /* set below */
        {NULL, NULL},
    };
    luaL_newmetatable(L, mt);
    lua_pushstring(L, mt);
    lua_pushstring(L, what);
    luaL_setfuncs(L, metamethods, 2);
    lua_newtable(L);
    lua_pushstring(L, mt);
    lua_pushstring(L, what);
    luaL_setfuncs(L, common, 2);
    luaL_setfuncs(L, methods, 0); /* type-specific ones may override */
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

struct nurs_resource *nurs_l_relay_for(lua_State *L, int idx, const char *fname,
                                       const char *kind, const char *name, unsigned flags)
{
    struct nurs_script *s = nurs_script_of(L);
    if (!nurs_opt_bool(L, idx, fname, "shared", false) || s->host->worker_id == 0)
        return NULL;
    char err[256];
    struct nurs_resource *r = nurs_relay_get(s, kind, name ? name : kind, flags, err, sizeof err);
    if (!r)
        luaL_error(L, "%s: %s", fname, err);
    return r;
}
