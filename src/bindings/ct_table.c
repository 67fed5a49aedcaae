/* nurs.ct{...} and the table methods of a conntrack source. Each method
 * turns its arguments into a request (sources/ct_table.h) and its
 * callbacks into Lua calls; results arrive later, from the loop. */
#include "bindings/ct_table.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/ct_spec.h"
#include "bindings/record.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "records/ct_record.h"
#include "records/exp_record.h"
#include "sources/conntrack.h"
#include "sources/ct_table.h"

#define TABLE_MT "nurs.ct"
#define SOURCE_MT "nurs.conntrack"

/* How a request's result reaches its callback. */
enum shape {
    SHAPE_ONE,    /* fn(1) | fn(nil, err): one entry deleted or updated */
    SHAPE_OK,     /* fn(true) | fn(nil, err) */
    SHAPE_RECORD, /* fn(rec) | fn(nil, err) */
    SHAPE_ALL,    /* fn(n, { matched =, done =, gone =, failed =, error = }) */
    SHAPE_LIST,   /* each(rec)...; done(n) | done(nil, err) */
    SHAPE_COUNT,  /* fn(n [, max]) */
    SHAPE_STATS,  /* fn({ per cpu }, totals) */
};

struct l_req {
    lua_State *L; /* the script's main thread */
    struct nurs_resource *r;
    enum shape shape;
    int each, done, stats; /* registry refs or LUA_NOREF */
    bool found;
};

static const char *errno_name(int e)
{
    const char *name = e ? strerrorname_np(e) : NULL;
    return name ? name : "EIO";
}

static void call(struct l_req *q, int nargs)
{
    if (nurs_pcall(q->L, nargs, 0) != LUA_OK) {
        q->r->counters.errors++;
        nurs_log_lua_error(q->L, &q->r->error_rl, q->r->name);
    }
}

static void on_record(void *arg, struct nurs_record *rec)
{
    struct l_req *q = arg;
    q->found = true;
    int fn = q->shape == SHAPE_LIST ? q->each : q->shape == SHAPE_RECORD ? q->done : LUA_NOREF;
    if (fn == LUA_NOREF)
        return;
    lua_State *L = q->L;
    int view = nurs_l_record_view_push(L, rec);
    lua_rawgeti(L, LUA_REGISTRYINDEX, fn);
    lua_pushvalue(L, view);
    if (lua_pcall(L, 1, 0, view - 1) != LUA_OK) {
        q->r->counters.errors++;
        nurs_log_lua_error(L, &q->r->error_rl, q->r->name);
    }
}

static void on_stats(void *arg, const struct nurs_ct_stats *st)
{
    struct l_req *q = arg;
    lua_State *L = q->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, q->stats);
    lua_createtable(L, 0, 12);
    lua_pushinteger(L, st->cpu);
    lua_setfield(L, -2, "cpu");
    for (int i = 0; i < NURS_CT_STATS_MAX; i++) {
        if (!(st->present & (1u << i)))
            continue;
        lua_pushinteger(L, st->value[i]);
        lua_setfield(L, -2, nurs_ct_stats_name(st->kind, i));
    }
    lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
    lua_pop(L, 1);
}

/* totals of the per-CPU tables on top of the stack */
static void push_totals(lua_State *L)
{
    lua_newtable(L);
    lua_Integer n = luaL_len(L, -2);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -2, i);
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            const char *k = lua_tostring(L, -2);
            if (strcmp(k, "cpu") != 0) {
                lua_getfield(L, -4, k);
                lua_Integer sum = lua_tointeger(L, -1) + lua_tointeger(L, -2);
                lua_pop(L, 1);
                lua_pushinteger(L, sum);
                lua_setfield(L, -5, k);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

static void push_error(lua_State *L, int e)
{
    lua_pushnil(L);
    lua_pushstring(L, errno_name(e));
}

static void on_done(void *arg, const struct nurs_ct_result *res)
{
    struct l_req *q = arg;
    if (q->done == LUA_NOREF)
        return;
    lua_State *L = q->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, q->done);
    int nargs = 2;
    if (res->error && q->shape != SHAPE_ALL) {
        push_error(L, res->error);
        call(q, 2);
        return;
    }
    switch (q->shape) {
    case SHAPE_ONE:
        lua_pushinteger(L, 1);
        nargs = 1;
        break;
    case SHAPE_OK:
        lua_pushboolean(L, 1);
        nargs = 1;
        break;
    case SHAPE_RECORD:
        if (q->found) { /* it had its call */
            lua_pop(L, 1);
            return;
        }
        push_error(L, ENOENT);
        break;
    case SHAPE_ALL:
        if (res->error)
            lua_pushnil(L);
        else
            lua_pushinteger(L, (lua_Integer)res->done);
        lua_createtable(L, 0, 6);
        lua_pushinteger(L, (lua_Integer)res->matched);
        lua_setfield(L, -2, "matched");
        lua_pushinteger(L, (lua_Integer)res->done);
        lua_setfield(L, -2, "done");
        lua_pushinteger(L, (lua_Integer)res->gone);
        lua_setfield(L, -2, "gone");
        lua_pushinteger(L, (lua_Integer)res->failed);
        lua_setfield(L, -2, "failed");
        if (res->error || res->first_error) {
            lua_pushstring(L, errno_name(res->error ? res->error : res->first_error));
            lua_setfield(L, -2, "error");
        }
        break;
    case SHAPE_LIST:
    case SHAPE_COUNT:
        lua_pushinteger(L, (lua_Integer)res->matched);
        nargs = 1;
        if (res->max_entries) {
            lua_pushinteger(L, res->max_entries);
            nargs = 2;
        }
        break;
    case SHAPE_STATS:
        lua_rawgeti(L, LUA_REGISTRYINDEX, q->stats);
        push_totals(L);
        break;
    }
    call(q, nargs);
}

static void release(void *arg)
{
    struct l_req *q = arg;
    luaL_unref(q->L, LUA_REGISTRYINDEX, q->each);
    luaL_unref(q->L, LUA_REGISTRYINDEX, q->done);
    luaL_unref(q->L, LUA_REGISTRYINDEX, q->stats);
    free(q);
}

static int ref_fn(lua_State *L, int idx, bool required, const char *what)
{
    if (lua_isnoneornil(L, idx)) {
        if (required)
            luaL_error(L, "%s: a callback is required", what);
        return LUA_NOREF;
    }
    luaL_checktype(L, idx, LUA_TFUNCTION);
    lua_pushvalue(L, idx);
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The table the method at stack 1 acts on. */
static struct nurs_ct_table *table_arg(lua_State *L)
{
    struct nurs_l_handle *h = luaL_testudata(L, 1, TABLE_MT);
    if (h) {
        if (!h->r)
            luaL_error(L, "conntrack table is closed");
        return nurs_ct_table_of(h->r);
    }
    h = luaL_testudata(L, 1, SOURCE_MT);
    if (!h) {
        luaL_typeerror(L, 1, "conntrack table or source");
        return NULL;
    }
    if (!h->r)
        luaL_error(L, "conntrack source is closed");
    char err[256];
    struct nurs_ct_table *t = nurs_ct_table_for(
        nurs_script_of(L), nurs_ct_source_netns(nurs_ct_source_of(h->r)), err, sizeof err);
    if (!t)
        luaL_error(L, "%s", err);
    return t;
}

/* Sends req with the callbacks at each_idx and done_idx (0: none);
 * returns true, or false and why. */
static int submit(lua_State *L, struct nurs_ct_table *t, struct nurs_ct_request *req,
                  enum shape shape, int each_idx, int done_idx, bool done_required,
                  const char *what)
{
    struct l_req *q = malloc(sizeof *q);
    if (!q)
        return luaL_error(L, "%s: out of memory", what);
    lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
    *q = (struct l_req){.L = lua_tothread(L, -1), .r = nurs_ct_table_resource(t), .shape = shape,
                        .each = LUA_NOREF, .done = LUA_NOREF, .stats = LUA_NOREF};
    lua_pop(L, 1);
    if (each_idx)
        q->each = ref_fn(L, each_idx, true, what);
    if (done_idx)
        q->done = ref_fn(L, done_idx, done_required, what);
    if (shape == SHAPE_STATS) {
        lua_newtable(L);
        q->stats = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    req->on_record = on_record;
    req->on_stats = on_stats;
    req->on_done = on_done;
    req->release = release;
    req->arg = q;
    char err[256];
    if (nurs_ct_table_submit(t, req, err, sizeof err) < 0) {
        int e = errno;
        release(q);
        if (e == EINVAL)
            return luaL_error(L, "%s: %s", what, err);
        lua_pushboolean(L, 0);
        lua_pushfstring(L, "%s: %s", errno_name(e), err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static bool is_record(lua_State *L, int idx, const struct nurs_record_class *cls)
{
    struct nurs_l_view *v = nurs_l_view_to(L, idx);
    return v && v->cls == cls;
}

/* t:get(rec | { whole tuple } | { id = N }, fn) */
static int m_get(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_GET};
    nurs_l_ct_spec(L, 2, NURS_L_SPEC_FILTER, "get", &req.spec);
    if (!nurs_ct_tuple_spec_full(&req.spec, &req.spec.orig)) {
        if (!(req.spec.has & NURS_CTS_ID))
            return luaL_error(L, "get: an entry is found by its whole original tuple or its id");
        req.op = NURS_CT_OP_LIST; /* the kernel finds none by id: a listing does */
    }
    return submit(L, t, &req, SHAPE_RECORD, 0, 3, true, "get");
}

/* A record at 2 names one entry (req->op); anything else is a filter and
 * the request acts on every match (all_op). */
static int submit_entry_or_filter(lua_State *L, struct nurs_ct_table *t,
                                  struct nurs_ct_request *req, enum nurs_ct_op all_op, int fn_idx,
                                  const char *what)
{
    if (is_record(L, 2, &nurs_ct_class)) {
        nurs_l_ct_spec(L, 2, NURS_L_SPEC_ENTRY, what, &req->spec);
        return submit(L, t, req, SHAPE_ONE, 0, fn_idx, false, what);
    }
    req->op = all_op;
    nurs_l_ct_spec(L, 2, NURS_L_SPEC_FILTER, what, &req->spec);
    return submit(L, t, req, SHAPE_ALL, 0, fn_idx, false, what);
}

/* t:delete(rec [, fn]) one entry; t:delete(filter [, fn]) every match */
static int m_delete(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_DELETE};
    return submit_entry_or_filter(L, t, &req, NURS_CT_OP_DELETE_ALL, 3, "delete");
}

/* t:update(rec | filter, { mark =, labels =, timeout =, status = } [, fn]) */
static int m_update(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_UPDATE};
    nurs_l_ct_spec(L, 3, NURS_L_SPEC_CHANGE, "update", &req.change);
    if (!req.change.has)
        return luaL_error(L, "update: nothing to change (mark, labels, timeout, status)");
    return submit_entry_or_filter(L, t, &req, NURS_CT_OP_UPDATE_ALL, 4, "update");
}

/* t:create{ proto =, orig = {...}, timeout =, ... } [, fn] */
static int m_create(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_CREATE};
    nurs_l_ct_spec(L, 2, NURS_L_SPEC_CREATE, "create", &req.spec);
    req.change = req.spec;
    return submit(L, t, &req, SHAPE_OK, 0, 3, false, "create");
}

/* t:flush([{ family = }] [, fn]) */
static int m_flush(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_FLUSH};
    int fn = 2;
    if (lua_istable(L, 2)) {
        static const char *const allowed[] = {"family", NULL};
        nurs_check_options(L, 2, "flush", allowed);
        nurs_l_ct_spec(L, 2, NURS_L_SPEC_FILTER, "flush", &req.spec);
        fn = 3;
    }
    return submit(L, t, &req, SHAPE_OK, 0, fn, false, "flush");
}

/* Optional filter at 2, then callbacks. */
static int filter_arg(lua_State *L, struct nurs_ct_spec *spec, const char *what)
{
    if (lua_istable(L, 2) || nurs_l_view_to(L, 2)) {
        nurs_l_ct_spec(L, 2, NURS_L_SPEC_FILTER, what, spec);
        return 3;
    }
    if (lua_isnil(L, 2))
        return 3;
    return 2;
}

/* t:count([filter,] fn): fn(entries, max) for the whole table, fn(n) */
static int m_count(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_COUNT};
    int fn = filter_arg(L, &req.spec, "count");
    if (fn == 3)
        req.op = NURS_CT_OP_LIST;
    return submit(L, t, &req, SHAPE_COUNT, 0, fn, true, "count");
}

/* t:list([filter,] each [, done]); filter.zero resets the counters listed */
static int m_list(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_LIST};
    if (lua_istable(L, 2)) {
        req.zero = lua_getfield(L, 2, "zero") != LUA_TNIL && lua_toboolean(L, -1);
        lua_pop(L, 1);
        /* the filter without `zero` */
        lua_newtable(L);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            if (lua_type(L, -2) == LUA_TSTRING && strcmp(lua_tostring(L, -2), "zero") == 0) {
                lua_pop(L, 1);
                continue;
            }
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_settable(L, -4);
        }
        lua_replace(L, 2);
    }
    int each = filter_arg(L, &req.spec, "list");
    return submit(L, t, &req, SHAPE_LIST, each, each + 1, false, "list");
}

/* t:stats(fn): fn({ {cpu =, found =, insert_failed =, drop =...}, ... }, totals) */
static int m_stats(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_STATS};
    return submit(L, t, &req, SHAPE_STATS, 0, 2, true, "stats");
}

/* ---- expectations ---- */

static int m_expect_list(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_EXP_LIST};
    int each = 2;
    if (lua_istable(L, 2)) {
        nurs_l_exp_spec(L, 2, true, "expect_list", &req.exp);
        each = 3;
    }
    return submit(L, t, &req, SHAPE_LIST, each, each + 1, false, "expect_list");
}

static int m_expect_get(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_EXP_GET};
    nurs_l_exp_spec(L, 2, false, "expect_get", &req.exp);
    return submit(L, t, &req, SHAPE_RECORD, 0, 3, true, "expect_get");
}

static int m_expect_create(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_EXP_CREATE};
    nurs_l_exp_spec(L, 2, false, "expect_create", &req.exp);
    return submit(L, t, &req, SHAPE_OK, 0, 3, false, "expect_create");
}

/* A record or whole tuple: that one; { helper = } alone: all of the
 * helper's (by the kernel); else every match of the filter. */
static int m_expect_delete(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_EXP_DELETE};
    bool record = is_record(L, 2, &nurs_exp_class);
    nurs_l_exp_spec(L, 2, !record, "expect_delete", &req.exp);
    const struct nurs_exp_spec *s = &req.exp;
    bool whole = (s->has & NURS_EXS_TUPLE) && nurs_ct_tuple_spec_full(&s->tuple, &s->tuple.orig);
    if (record || whole || s->has == NURS_EXS_HELPER)
        return submit(L, t, &req, record || whole ? SHAPE_ONE : SHAPE_OK, 0, 3, false,
                      "expect_delete");
    req.op = NURS_CT_OP_EXP_DELETE_ALL;
    return submit(L, t, &req, SHAPE_ALL, 0, 3, false, "expect_delete");
}

static int m_expect_flush(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_EXP_FLUSH};
    return submit(L, t, &req, SHAPE_OK, 0, 2, false, "expect_flush");
}

static int m_expect_stats(lua_State *L)
{
    struct nurs_ct_table *t = table_arg(L);
    struct nurs_ct_request req = {.op = NURS_CT_OP_EXP_STATS};
    return submit(L, t, &req, SHAPE_STATS, 0, 2, true, "expect_stats");
}

static const luaL_Reg methods[] = {
    {"get", m_get},
    {"delete", m_delete},
    {"update", m_update},
    {"create", m_create},
    {"flush", m_flush},
    {"count", m_count},
    {"list", m_list},
    {"stats", m_stats},
    {"expect_list", m_expect_list},
    {"expect_get", m_expect_get},
    {"expect_create", m_expect_create},
    {"expect_delete", m_expect_delete},
    {"expect_flush", m_expect_flush},
    {"expect_stats", m_expect_stats},
    {NULL, NULL},
};

/* nurs.ct([opts]) */
static int l_ct(lua_State *L)
{
    static const char *const allowed[] = {"netns", "name", "inflight", NULL};
    lua_settop(L, 1);
    nurs_l_opts_arg(L, 1, "nurs.ct", allowed);
    struct nurs_ct_table_opts o = {
        .netns = nurs_opt_string(L, 1, "nurs.ct", "netns", NULL),
        .name = nurs_opt_string(L, 1, "nurs.ct", "name", NULL),
        .inflight = (unsigned)nurs_opt_int(L, 1, "nurs.ct", "inflight", NURS_CT_TABLE_INFLIGHT, 1,
                                           1 << 16),
    };
    char err[512];
    struct nurs_ct_table *t = nurs_ct_table_new(nurs_script_of(L), &o, err, sizeof err);
    if (!t)
        return luaL_error(L, "nurs.ct: %s", err);
    nurs_l_handle_push(L, TABLE_MT, nurs_ct_table_resource(t));
    return 1;
}

void nurs_l_ct_table_open(lua_State *L)
{
    nurs_l_handle_class(L, TABLE_MT, "conntrack table", methods);
    lua_pushcfunction(L, l_ct);
    lua_setfield(L, -2, "ct");
}

void nurs_l_ct_table_methods_into(lua_State *L, const char *mt)
{
    luaL_getmetatable(L, mt);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
