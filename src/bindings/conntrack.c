/* nurs.conntrack{...}: the Lua face of the conntrack source. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings/attribution.h"
#include "bindings/consumer.h"
#include "bindings/ct_table.h"
#include "bindings/nurs.h"
#include "bindings/script.h"
#include "bindings/util.h"
#include "core/host.h"
#include "records/record.h"
#include "sources/conntrack.h"

#define CT_MT "nurs.conntrack"
#define FNAME "nurs.conntrack"

static struct nurs_ct_source *check_source(lua_State *L)
{
    return nurs_ct_source_of(nurs_l_handle_check(L, 1, CT_MT, "conntrack source"));
}

static void read_events(lua_State *L, int opts, struct nurs_ct_source_opts *o)
{
    int t = lua_getfield(L, opts, "events");
    if (t == LUA_TNIL) {
        o->ev_new = o->ev_update = o->ev_destroy = true;
        lua_pop(L, 1);
        return;
    }
    if (t == LUA_TSTRING) {
        lua_newtable(L);
        lua_insert(L, -2);
        lua_rawseti(L, -2, 1);
    } else if (t != LUA_TTABLE) {
        luaL_error(L, FNAME ": option 'events' must be a list like {\"new\", \"destroy\"}");
    }
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *ev = lua_tostring(L, -1);
        if (ev && strcmp(ev, "new") == 0)
            o->ev_new = true;
        else if (ev && strcmp(ev, "update") == 0)
            o->ev_update = true;
        else if (ev && strcmp(ev, "destroy") == 0)
            o->ev_destroy = true;
        else
            luaL_error(L, FNAME ": unknown event '%s' (new, update, destroy)",
                       ev ? ev : luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void read_filter(lua_State *L, int opts, struct nurs_ct_filter *f)
{
    lua_getfield(L, opts, "mark");
    bool has_mark = !lua_isnil(L, -1);
    lua_pop(L, 1);
    lua_Integer mask = nurs_opt_int(L, opts, FNAME, "mark_mask", 0xffffffff, 0, 0xffffffff);
    if (!has_mark) {
        lua_getfield(L, opts, "mark_mask");
        if (!lua_isnil(L, -1))
            luaL_error(L, FNAME ": option 'mark_mask' needs 'mark'");
        lua_pop(L, 1);
        return;
    }
    lua_Integer mark = nurs_opt_int(L, opts, FNAME, "mark", 0, 0, 0xffffffff);
    if (mark & ~mask) {
        char msg[128]; /* lua_pushfstring has no %x */
        snprintf(msg, sizeof msg, "mark 0x%x has bits outside mark_mask 0x%x: nothing would match",
                 (unsigned)mark, (unsigned)mask);
        luaL_error(L, FNAME ": %s", msg);
    }
    f->on = true;
    f->mark = (uint32_t)mark;
    f->mask = (uint32_t)mask;
}

/* dump_at_exit = true lists the table at exit; "zero" also resets the
 * counters it reports, as :dump{zero = true} does. */
static void read_dump_at_exit(lua_State *L, int opts, struct nurs_ct_source_opts *o)
{
    int t = lua_getfield(L, opts, "dump_at_exit");
    if (t == LUA_TBOOLEAN)
        o->set.dump_at_exit = lua_toboolean(L, -1);
    else if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "zero") == 0)
        o->set.dump_at_exit = o->set.zero_at_exit = true;
    else if (t != LUA_TNIL)
        luaL_error(L, FNAME ": option 'dump_at_exit' must be true, false or \"zero\"");
    lua_pop(L, 1);
}

/* reliable = true; resync = true | "zero"; resync_interval = seconds */
static void read_reliability(lua_State *L, int opts, struct nurs_ct_source_opts *o)
{
    o->set.reliable = nurs_opt_bool(L, opts, FNAME, "reliable", false);
    int t = lua_getfield(L, opts, "resync");
    if (t == LUA_TBOOLEAN)
        o->set.resync = lua_toboolean(L, -1);
    else if (t == LUA_TSTRING && strcmp(lua_tostring(L, -1), "zero") == 0)
        o->set.resync = o->set.resync_zero = true;
    else if (t != LUA_TNIL)
        luaL_error(L, FNAME ": option 'resync' must be true, false or \"zero\"");
    lua_pop(L, 1);
    o->set.resync_interval_ms =
        (unsigned)llround(nurs_opt_number(L, opts, FNAME, "resync_interval", 5, 0.1, 3600) * 1000);
}

/* nurs.conntrack([opts] [, callback]) */
static int l_conntrack(lua_State *L)
{
    static const char *const allowed[] = {"events", "dump", "netns", "rcvbuf", "rcvbuf_max",
                                          "name", "record", "mark", "mark_mask",
                                          "dump_at_exit", "process", "batch_wait", "budget",
                                          "reliable", "resync", "resync_interval", NULL};
    int fn = nurs_l_source_args(L, FNAME, allowed, true);

    struct nurs_ct_source_opts o = {0};
    read_events(L, 1, &o);
    o.dump = nurs_opt_bool(L, 1, FNAME, "dump", false);
    read_reliability(L, 1, &o);
    o.netns = nurs_opt_string(L, 1, FNAME, "netns", NULL);
    o.name = nurs_opt_string(L, 1, FNAME, "name", NULL);
    o.record = nurs_opt_string(L, 1, FNAME, "record", NULL);
    read_filter(L, 1, &o.set.filter);
    read_dump_at_exit(L, 1, &o);
    o.set.batch_wait_ms =
        (unsigned)ceil(nurs_opt_number(L, 1, FNAME, "batch_wait", 0, 0, 1) * 1000);
    o.set.process = nurs_l_process_option(L, 1, FNAME, &o.set.process_opts);
    nurs_opt_rcvbuf(L, 1, FNAME, NURS_CT_DEFAULT_RCVBUF, NURS_CT_DEFAULT_RCVBUF_MAX, &o.rcvbuf,
                    &o.rcvbuf_max);

    char err[512];
    bool adopted;
    struct nurs_ct_source *src = nurs_ct_source_get(nurs_script_of(L), &o, &adopted, err, sizeof err);
    if (!src)
        return luaL_error(L, FNAME ": %s", err);
    struct nurs_resource *r = nurs_ct_source_resource(src);
    nurs_l_handle_push(L, CT_MT, r);
    /* An adopted socket keeps its place in the event stream (and a new
     * one lists the table if asked): listing it again would deliver
     * entries twice. */
    (void)adopted;
    nurs_l_read_budget(L, 1, FNAME, r);
    if (fn)
        nurs_l_add_consumer(L, r, fn, &nurs_l_function_ops, NURS_RECORD_CT);
    return 1;
}

/* nurs.expect([opts] [, callback]): the expectation table's events */
static int l_expect(lua_State *L)
{
    static const char *const allowed[] = {"events", "dump", "netns", "rcvbuf", "rcvbuf_max",
                                          "name", "record", NULL};
    const char *fname = "nurs.expect";
    int fn = nurs_l_source_args(L, fname, allowed, false);
    struct nurs_ct_source_opts o = {.expect = true};
    int t = lua_getfield(L, 1, "events");
    lua_pop(L, 1);
    read_events(L, 1, &o);
    if (o.ev_update && t != LUA_TNIL)
        luaL_error(L, "%s: expectations have events new and destroy", fname);
    o.ev_update = false;
    o.dump = nurs_opt_bool(L, 1, fname, "dump", false);
    o.netns = nurs_opt_string(L, 1, fname, "netns", NULL);
    o.name = nurs_opt_string(L, 1, fname, "name", "expect");
    o.record = nurs_opt_string(L, 1, fname, "record", NULL);
    nurs_opt_rcvbuf(L, 1, fname, 1 << 20, NURS_CT_DEFAULT_RCVBUF_MAX, &o.rcvbuf, &o.rcvbuf_max);
    char err[512];
    bool adopted;
    struct nurs_ct_source *src = nurs_ct_source_get(nurs_script_of(L), &o, &adopted, err, sizeof err);
    if (!src)
        return luaL_error(L, "%s: %s", fname, err);
    struct nurs_resource *r = nurs_ct_source_resource(src);
    nurs_l_handle_push(L, CT_MT, r);
    if (fn)
        nurs_l_add_consumer(L, r, fn, &nurs_l_function_ops, NURS_RECORD_EXP);
    return 1;
}

static int ct_on(lua_State *L)
{
    struct nurs_ct_source *src = check_source(L);
    nurs_l_check_ct_callback(L, 2);
    nurs_l_add_consumer(L, nurs_ct_source_resource(src), 2, &nurs_l_function_ops, NURS_RECORD_CT);
    lua_settop(L, 1);
    return 1;
}

static int ct_dump(lua_State *L)
{
    static const char *const allowed[] = {"zero", NULL};
    struct nurs_ct_source *src = check_source(L);
    bool zero = false;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        nurs_check_options(L, 2, "dump", allowed);
        zero = nurs_opt_bool(L, 2, "dump", "zero", false);
    }
    char err[512];
    if (nurs_ct_source_dump(src, zero, err, sizeof err) < 0)
        return luaL_error(L, "dump: %s", err);
    lua_settop(L, 1);
    return 1;
}

/* src:attribute(rec [, fn]) */
static int ct_attribute(lua_State *L)
{
    struct nurs_ct_source *src = check_source(L);
    char err[512];
    struct nurs_attribution *a = nurs_ct_source_attribution(src, err, sizeof err);
    if (!a)
        return luaL_error(L, "attribute: %s", err);
    return nurs_l_attribute(L, nurs_ct_source_resource(src), a);
}

static int ct_dumping(lua_State *L)
{
    lua_pushboolean(L, nurs_ct_source_dumping(check_source(L)));
    return 1;
}

void nurs_l_conntrack_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"on", ct_on},
        {"dump", ct_dump},
        {"dumping", ct_dumping},
        {"attribute", ct_attribute},
        {NULL, NULL},
    };
    nurs_l_handle_class(L, CT_MT, "conntrack source", methods);
    nurs_l_ct_table_methods_into(L, CT_MT);
    lua_pushcfunction(L, l_conntrack);
    lua_setfield(L, -2, "conntrack");
    lua_pushcfunction(L, l_expect);
    lua_setfield(L, -2, "expect");
}
